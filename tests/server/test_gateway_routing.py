"""The gateway's router reads operations.toml again when it changes, looking at the file at most once a second
(a clock given to the router stands for the time passing)."""

from __future__ import annotations

import pytest

from core import config
from core.server.routing import RouteError, Router

SUMMARIZE = '[operations.summarize]\nchain = ["openai"]\nmodels = { openai = "gpt-4o-mini" }\n'
TRANSLATE = '[operations.translate]\nchain = ["ollama", "openai"]\nmodels = { ollama = "qwen2.5:3b" }\n'


def test_an_edited_operations_file_is_served_within_a_second(monkeypatch, tmp_path):
    path = tmp_path / "operations.toml"
    path.write_text(SUMMARIZE)
    monkeypatch.setenv("OPERATIONS_FILE", str(path))
    config.reset_settings()
    now = [1000.0]
    router = Router(config.get_settings(), {}, clock=lambda: now[0])
    assert router.resolve("summarize", None).operation == "summarize"

    path.write_text(SUMMARIZE + TRANSLATE)
    now[0] += 0.5  # within the second: the file is not looked at again
    with pytest.raises(RouteError) as e:
        router.resolve("translate", None)
    assert e.value.status == 404

    now[0] += 0.5
    route = router.resolve("translate", None)
    assert (route.operation, [s.provider for s in route.steps]) == ("translate", ["ollama", "openai"])
    assert [m["id"] for m in router.model_list()][:2] == ["summarize", "translate"]

    path.unlink()  # a removed file: back to no operations, again within the second
    now[0] += 1.0
    with pytest.raises(RouteError):
        router.resolve("summarize", None)
    config.reset_settings()
