"""The gateway's speed: `python -m bench.gateway`.

A fake upstream (bench/gateway_load.py) answers in a fixed time (--delay-ms, 20 ms). The same requests go to it
directly, through the gateway (ledger writes on: spool, writer, database) and through LiteLLM's proxy (its own
virtualenv, --litellm-venv, database off, its config pointing at the same upstream), at concurrency 1, 16 and 64.
Reported: the latency each adds to the direct call (p50, p99) and the requests per second; then the most each
sustains, against a second upstream that answers at once; then a `kill -9` of the gateway and its writer under
load, a restart, and the count of answered calls missing from the ledger (must be 0). `uptime` is printed beside
the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.gateway_load import Run, load

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_KEY = "sk-bench-upstream-key-0000"
LITELLM_KEY = "sk-litellm-bench-master"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 180.0, headers: dict | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the processes of a process group (a server and its helpers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def ledger_rows(env: dict) -> int:
    code = (
        "from sqlalchemy import func, select\nfrom core.storage.db import session_scope\n"
        "from core.storage.models import AIJob\nwith session_scope() as s:\n"
        "    print(s.scalar(select(func.count()).select_from(AIJob).where(AIJob.source == 'gateway')))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def ledger_has(env: dict, request_ids: list[str]) -> int:
    """How many of these request ids the ledger holds."""
    code = (
        "import sys\nfrom sqlalchemy import select\nfrom core.storage.db import session_scope\n"
        "from core.storage.models import AIJob\nwant = set(sys.stdin.read().split())\n"
        "with session_scope() as s:\n    got = set(s.scalars(select(AIJob.request_id).where("
        "AIJob.source == 'gateway')))\nprint(len(want & got))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        input="\n".join(request_ids),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def database(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench-gateway.db'}"
    from bench.common import fresh_database

    return fresh_database("postgresql", "aium_bench_gateway")


def litellm_config(tmp: Path, slow_port: int, fast_port: int) -> Path:
    path = tmp / "litellm.yaml"
    path.write_text(f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{slow_port}/v1
      api_key: {PROVIDER_KEY}
  - model_name: fast
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{fast_port}/v1
      api_key: {PROVIDER_KEY}
litellm_settings:
  telemetry: false
  request_timeout: 30
general_settings:
  master_key: {LITELLM_KEY}
""")
    return path


def row(run: Run, direct: Run | None, cpu: float | None) -> str:
    add50 = (run.pct(0.5) - direct.pct(0.5)) * 1000 if direct else 0.0
    add99 = (run.pct(0.99) - direct.pct(0.99)) * 1000 if direct else 0.0
    per = f"  CPU {cpu / max(1, len(run.latencies) + run.errors) * 1000:6.2f} ms/req" if cpu is not None else ""
    return (
        f"{run.name:<8} c={run.concurrency:<3} p50 {run.pct(0.5) * 1000:7.2f} ms"
        f"  p99 {run.pct(0.99) * 1000:7.2f} ms"
        f"  added p50 {add50:+7.2f} ms  p99 {add99:+7.2f} ms  {run.rps:7.1f} req/s{per}  errors {run.errors}"
    )


async def compare(
    targets: dict, concurrencies: list[int], requests: dict[int, int], groups: dict, caps: dict[str, int] | None = None
) -> list[str]:
    """Each target at each concurrency; `groups`: target -> process group whose CPU time is counted; `caps`:
    target -> most requests measured per run (a slow peer would take many minutes)."""
    lines = []
    for c in concurrencies:
        direct = None
        for name, (url, key, body) in targets.items():
            n = min(requests[c], (caps or {}).get(name, requests[c]))
            await load(url, key, concurrency=c, requests=min(200, n), name=name, body=body)  # warm up
            before = group_cpu(groups[name]) if name in groups else None
            run = await load(url, key, concurrency=c, requests=n, name=name, body=body)
            cpu = group_cpu(groups[name]) - before if before is not None else None
            direct = run if name == "direct" else direct
            lines.append(row(run, direct, cpu))
            print(lines[-1], flush=True)
    return lines


async def kill_during_load(gateway_url: str, key: str, proc: subprocess.Popen, answered: int = 1500) -> Run:
    """Load at concurrency 16; SIGKILL the gateway's process group (the gateway and its writer) once `answered`
    calls were answered; the ids of the calls answered 200 before."""
    halt = asyncio.Event()
    run = Run("kill", 16)
    task = asyncio.create_task(
        load(gateway_url, key, concurrency=16, requests=10**6, keep_ids=True, stop=halt, timeout=5.0, run=run)
    )
    while len(run.request_ids) < answered and not task.done():
        await asyncio.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.sleep(0.3)
    halt.set()
    await task
    proc.wait()
    return run


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n\n")[0])
    p.add_argument("--delay-ms", type=float, default=20.0, help="the upstream's fixed answer time")
    p.add_argument("--requests", type=int, default=2000, help="measured requests per run at concurrency 16 and 64")
    p.add_argument("--peer-requests", type=int, default=500, help="most requests measured per run through LiteLLM")
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument(
        "--litellm-venv",
        default=os.environ.get("LITELLM_VENV", "/work/litellm-venv"),
        help="virtualenv with litellm[proxy] (skipped when missing)",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    procs: list[subprocess.Popen] = []
    py = sys.executable
    try:
        slow, fast, gw_port, ll_port = free_port(), free_port(), free_port(), free_port()
        for port, delay in ((slow, args.delay_ms), (fast, 0)):
            procs.append(
                start(
                    [py, "-m", "bench.gateway_load", "--upstream", str(port), "--delay-ms", str(delay)],
                    dict(os.environ),
                    tmp / "upstream.log",
                )
            )
        env = {
            **os.environ,
            "DATABASE_URL": database(args.db, tmp),
            "OPENAI_BASE_URL": f"http://127.0.0.1:{slow}/v1",
            "OPENAI_API_KEY": PROVIDER_KEY,
            "OLLAMA_BASE_URL": f"http://127.0.0.1:{fast}/v1",
            "GATEWAY_SPOOL_DIR": str(tmp / "spool"),
            "OPERATIONS_FILE": str(tmp / "none.toml"),
        }
        env.pop("GEMINI_API_KEY", None)
        subprocess.run([py, "-m", "core", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        made = subprocess.run(
            [py, "-m", "core", "key", "create", "--company", "Bench"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        gateway = start([py, "-m", "core", "serve", "--port", str(gw_port)], env, tmp / "gateway.log")
        procs.append(gateway)
        litellm = None
        ll_bin = Path(args.litellm_venv) / "bin" / "litellm"
        if ll_bin.exists():
            ll_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OPENAI_"))}
            ll_env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true"}
            litellm = start(
                [
                    str(ll_bin),
                    "--config",
                    str(litellm_config(tmp, slow, fast)),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ll_port),
                    "--num_workers",
                    "1",
                ],
                ll_env,
                tmp / "litellm.log",
            )
            procs.append(litellm)
        for port in (slow, fast):
            wait_http(f"http://127.0.0.1:{port}/v1/models")
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        if litellm:
            wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", 300)
        gw_url, ll_url = f"http://127.0.0.1:{gw_port}/v1", f"http://127.0.0.1:{ll_port}/v1"
        fast_body = b'{"model": "ollama/gpt-4o-mini", "messages": [{"role": "user", "content": "Say OK."}]}'
        ll_fast = b'{"model": "fast", "messages": [{"role": "user", "content": "Say OK."}]}'
        from bench.gateway_load import BODY

        targets = {"direct": (f"http://127.0.0.1:{slow}/v1", None, BODY), "gateway": (gw_url, key, BODY)}
        if litellm:
            targets["litellm"] = (ll_url, LITELLM_KEY, BODY)
        print(f"uptime: {uptime()}", flush=True)
        print(
            f"upstream answers in {args.delay_ms:g} ms; ledger on {args.db}; ledger writes on; CPU: the "
            "server's process group (gateway and its ledger writer; LiteLLM and its workers) per request",
            flush=True,
        )
        before = ledger_rows(env)
        groups = {"gateway": gateway.pid} | ({"litellm": litellm.pid} if litellm else {})
        asyncio.run(
            compare(
                targets,
                [1, 16, 64],
                {1: max(100, args.requests // 8), 16: args.requests, 64: args.requests},
                groups,
                {"litellm": args.peer_requests},
            )
        )
        print(f"uptime: {uptime()}", flush=True)
        print("most requests per second (upstream answers at once, concurrency 64):", flush=True)
        most = {"direct": (f"http://127.0.0.1:{fast}/v1", None, BODY), "gateway": (gw_url, key, fast_body)}
        if litellm:
            most["litellm"] = (ll_url, LITELLM_KEY, ll_fast)
        asyncio.run(compare(most, [64], {64: args.requests * 2}, groups, {"litellm": args.peer_requests}))
        print(f"uptime: {uptime()}", flush=True)
        print(f"ledger: {ledger_rows(env) - before} gateway records written so far (spool drains in the background)")
        run = asyncio.run(kill_during_load(gw_url, key, gateway))
        procs.remove(gateway)
        restarted = start([py, "-m", "core", "serve", "--port", str(gw_port)], env, tmp / "gateway.log")
        procs.append(restarted)
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        deadline = time.monotonic() + 120
        found = ledger_has(env, run.request_ids)
        while found < len(run.request_ids) and time.monotonic() < deadline:
            time.sleep(0.5)
            found = ledger_has(env, run.request_ids)
        print(
            f"kill -9 of the gateway and its writer under load (concurrency 16): {len(run.request_ids)} calls "
            f"answered before it, {found} of them in the ledger after a restart: "
            f"{len(run.request_ids) - found} lost",
            flush=True,
        )
        print(f"uptime: {uptime()}", flush=True)
        return 0 if found == len(run.request_ids) else 1
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
