"""Starting the gateway: the address check, uvicorn with uvloop and httptools, the writer beside it.

With several server processes (GATEWAY_WORKERS), each listens on the port through a socket of its own
(core.server.supervisor) and serves its share of the connections on its own event loop: a burst of calls is served
in parallel instead of one after the other; uvicorn's supervisor restarts a process that dies. This process then
runs the one ledger writer, and gives them a folder for what they share: the rate-limit buckets and
prometheus-client's multiprocess files.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import socket
from pathlib import Path

from core.config import get_settings

WORKER_ENV = "AIUM_GATEWAY_WORKER"  # set for the server processes: {"loopback", "shared" (folder), "parent" (pid)}
MAX_AUTO_WORKERS = 8
SHARED_PREFIX = "shared-"  # + the parent's pid: the folder in the spool folder that the server processes share


class _QuietAbort(logging.Filter):
    """A stream the provider broke is cut on purpose (core.server.proxy.StreamAborted): no traceback for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ not in ("StreamAborted", "ConnectionResetError")


def is_loopback(host: str) -> bool:
    """True when every address `host` stands for is a loopback one (127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return pid > 0


def worker_count(setting: int) -> int:
    """GATEWAY_WORKERS, 0 read as one per CPU core this process may run on (at most MAX_AUTO_WORKERS)."""
    if setting:
        return setting
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


def worker_app():
    """The app of one of several server processes (uvicorn imports it by name in each): no writer of its own (the
    parent runs it), rate limits in the shared folder's buckets."""
    from core.server.app import create_app
    from core.server.parent import stop_with

    options = json.loads(os.environ[WORKER_ENV])
    stop_with(options["parent"])  # rather than serve on alone, with no writer, should the main process be killed
    logging.getLogger("uvicorn.error").addFilter(_QuietAbort())
    return create_app(get_settings(), loopback=options["loopback"], writer="none", shared_dir=Path(options["shared"]))


def serve(
    host: str | None = None, port: int | None = None, *, access_log: bool = False, workers: int | None = None
) -> int:
    from core.server.keys import any_active_key
    from core.storage.db import migrate

    s = get_settings()
    if workers is not None and not 0 <= workers <= 64:
        print(f"--workers {workers}: give 0 (one per CPU core) to 64", flush=True)
        return 2
    count = worker_count(s.gateway_workers if workers is None else workers)
    migrate()  # as the dashboard does: a fresh database works at once (safe when several start together)
    host = host or s.gateway_host
    port = s.gateway_port if port is None else port
    loopback = is_loopback(host)
    if not loopback and not any_active_key():
        print(
            f"refusing --host {host}: it is reachable from other machines and no gateway key exists "
            "(python -m core key create --company NAME)",
            flush=True,
        )
        return 2
    options = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "log_level": "warning",
        "access_log": access_log,
        "server_header": False,
        "timeout_keep_alive": 30,
        "proxy_headers": False,
    }
    print(
        f"Gateway: http://{host if ':' not in host else f'[{host}]'}:{port}/v1  (OpenAI-compatible; "
        f"{'loopback only' if loopback else 'gateway keys required'}; "
        f"{count} server process{'es' if count > 1 else ''})",
        flush=True,
    )
    if count > 1:
        return _serve_many(s, loopback, count, options)
    import uvicorn

    from core.server.app import create_app

    logging.getLogger("uvicorn.error").addFilter(_QuietAbort())
    server = uvicorn.Server(uvicorn.Config(create_app(s, loopback=loopback, writer="process"), **options))
    server.run()
    return 0 if server.started else 1


def _serve_many(s, loopback: bool, count: int, options: dict) -> int:
    import uvicorn

    from core.server import writer
    from core.server.supervisor import PerProcessSockets, bind_sockets

    spool_dir = writer.spool_dir_for(s)
    spool_dir.mkdir(parents=True, exist_ok=True)  # the server processes hand over a stopped gateway's segments
    for stale in spool_dir.glob(f"{SHARED_PREFIX}*"):  # a gateway killed outright left it
        pid = stale.name.removeprefix(SHARED_PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    shared = spool_dir / f"{SHARED_PREFIX}{os.getpid()}"
    shutil.rmtree(shared, ignore_errors=True)
    (shared / "metrics").mkdir(parents=True)
    # Read by the server processes as they start (they inherit this environment); prometheus-client reads its
    # variable when first imported, which in them comes after.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared / "metrics")
    os.environ[WORKER_ENV] = json.dumps({"loopback": loopback, "shared": str(shared), "parent": os.getpid()})
    config = uvicorn.Config("core.server.run:worker_app", factory=True, workers=count, **options)
    try:
        sockets = bind_sockets(config.host, config.port, count, config.backlog)
    except OSError as e:
        print(f"cannot listen on {config.host}:{config.port}: {e.strerror}", flush=True)
        shutil.rmtree(shared, ignore_errors=True)
        return 1
    ledger_writer = writer.start_process(spool_dir, writer.interval_for(s))
    try:
        config.configure_logging()
        PerProcessSockets(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
        writer.stop_process(ledger_writer)
        shutil.rmtree(shared, ignore_errors=True)
    return 0
