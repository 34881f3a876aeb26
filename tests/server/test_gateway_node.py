"""The case the gateway exists for: a TypeScript/JavaScript app with the official `openai` npm package, nothing
changed but its base URL and key. npm installs the package into a temporary folder; node runs a small script that
calls the gateway with and without streaming, then an operation whose first provider is out of quota."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from core.server.keys import create_key
from tests.helpers.llm import attempts
from tests.server.gateway_harness import gateway, wait_for_rows

NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"

SCRIPT = r"""
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.env.GATEWAY_URL, apiKey: process.env.GATEWAY_KEY, maxRetries: 0 });
const out = {};
const { data, response } = await client.chat.completions
  .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
out.json = { text: data.choices[0].message.content, usage: data.usage,
             provider: response.headers.get("x-aium-provider"), cost: response.headers.get("x-aium-cost-usd") };
const stream = await client.chat.completions.create({
  model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });
let text = "", usage = null;
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
out.stream = { text, usage };
const fallback = await client.chat.completions
  .create({ model: "summarize", messages: [{ role: "user", content: "hi" }] }).withResponse();
out.fallback = fallback.response.headers.get("x-aium-provider");
try {
  await new OpenAI({ baseURL: process.env.GATEWAY_URL, apiKey: "sk-aium-000000000000-bad", maxRetries: 0 })
    .models.list();
} catch (e) { out.badKey = e.status; }
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def openai_npm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("node-app")
    (folder / "package.json").write_text(json.dumps({"name": "gateway-test", "private": True, "type": "module"}))
    done = subprocess.run(
        [NPM, "install", "--no-audit", "--no-fund", "--silent", "openai"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm install openai failed: {done.stderr[-2000:]}")
    (folder / "app.mjs").write_text(SCRIPT)
    return folder


def test_typescript_app_with_the_openai_npm_package(openai_npm, fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    key, _ = create_key("Acme", label="ts-app")
    with gateway(monkeypatch, tmp_path) as g:
        oa.script.extend(["ok", "ok", "429_quota"])
        run = subprocess.run(
            [NODE, "app.mjs"],
            cwd=openai_npm,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PATH": "/usr/bin:/bin", "GATEWAY_URL": g.base_url, "GATEWAY_KEY": key},
        )
        assert run.returncode == 0, run.stderr[-2000:]
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert wait_for_rows(db, 4) == 4
    assert out["json"]["text"] == "OK" and out["json"]["usage"]["prompt_tokens"] == 12
    assert out["json"]["provider"] == "openai" and float(out["json"]["cost"]) > 0
    assert out["stream"] == {"text": "OK", "usage": out["stream"]["usage"]}
    assert out["stream"]["usage"]["completion_tokens"] == 5
    assert out["fallback"] == "ollama" and out["badKey"] == 401
    rows = attempts(db)
    assert [(r["provider"], r["status"]) for r in rows] == [
        ("openai", "completed"),
        ("openai", "completed"),
        ("openai", "failed"),
        ("ollama", "completed"),
    ]
    assert all(r["source"] == "gateway" and r["company"] == "Acme" for r in rows)
