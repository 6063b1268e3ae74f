"""Accept statistics end to end: the real ``codeslm lsp`` process shows suggestions carrying an
accept command, the client runs it, and the real ``codeslm stats --json`` counts it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import inline_params, lsp_session, plain, pos, server_env
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from codeslm import stats

CODE = "def add(a, b):\n    \n\n\ndef mul(a, b):\n    return a * b\n"
TS = "function add(a: number, b: number): number {\n  \n}\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": [{"contains": "def add", "reply": "return a + b\n"}],
                                  "default": "return a + b;\n"}))
    return server_env(tmp_path / "home", CODESLM_BACKEND="fake",
                      CODESLM_FAKE_SCRIPT=str(script))


def stats_json(env: dict[str, str], *flags: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "codeslm", "stats", "--json", *flags],
                         env=env, capture_output=True, text=True, check=True, timeout=60)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def _run(ed: Any, command: lsp.Command | None) -> Any:
    assert command is not None
    return plain(await ed.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command=command.command, arguments=command.arguments)))


async def test_shown_accepted_and_partial_reach_codeslm_stats(
        tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    async with lsp_session(root, env) as ed:
        assert ed.init is not None
        commands = ed.init.capabilities.execute_command_provider.commands  # type: ignore[union-attr]
        assert {"codeslm.accepted", "codeslm.partialAccept"} <= set(commands)
        py = ed.open("calc.py", CODE)
        ts = ed.open("add.ts", TS, language_id="typescript")

        first = await ed.client.text_document_inline_completion_async(inline_params(py, 1, 4))
        assert first is not None
        (item,) = first.items
        assert item.command is not None and item.command.command == "codeslm.accepted"
        assert await _run(ed, item.command) == {"recorded": True}

        # Shown, not accepted.
        second = await ed.client.text_document_inline_completion_async(
            inline_params(py, 1, 4, invoked=True))
        assert second is not None and second.items

        # Partly accepted (a word), in another language.
        third = await ed.client.text_document_inline_completion_async(inline_params(ts, 1, 2))
        assert third is not None
        (ts_item,) = third.items
        sid = ts_item.command.arguments[0]["id"]  # type: ignore[union-attr,index]
        partial = await ed.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command="codeslm.partialAccept", arguments=[{"id": sid, "acceptedLength": 6}]))
        assert plain(partial) == {"recorded": True}

        # The completion menu's items carry the command too.
        menu = await ed.client.text_document_completion_async(lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=py), position=pos(1, 4)))
        assert isinstance(menu, lsp.CompletionList) and menu.items
        assert await _run(ed, menu.items[0].command) == {"recorded": True}

        # Unknown ids are not errors (the server restarted); malformed arguments are.
        unknown = await ed.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command="codeslm.accepted", arguments=[{"id": "0123456789abcdef"}]))
        assert plain(unknown) == {"recorded": False}
        with pytest.raises(JsonRpcException, match="acceptedLength"):
            await ed.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
                command="codeslm.partialAccept", arguments=[{"id": sid}]))

    data = stats_json(env)
    assert data["shown"] == 4
    assert data["accepted"] == 2
    assert data["partially_accepted"] == 1
    assert data["accept_rate"] == 0.5
    assert data["by_language"]["python"] == {
        "shown": 3, "accepted": 2, "partially_accepted": 0, "accept_rate": round(2 / 3, 4)}
    assert data["by_language"]["typescript"]["partially_accepted"] == 1
    assert data["by_surface"]["menu"]["accepted"] == 1
    assert data["by_surface"]["inline"]["shown"] == 3
    ((model, by_model),) = data["by_model"].items()  # one model served every suggestion
    assert model and by_model["shown"] == 4 and by_model["accepted"] == 2
    for which in ("shown", "accepted"):
        lat = data["latency_ms"][which]
        assert lat["p50"] is not None and 0 < lat["p50"] <= lat["p95"] < 60_000
    assert Path(data["store"]).is_relative_to(tmp_path / "home")
    assert stats_json(env, "--day")["shown"] == 4

    human = subprocess.run([sys.executable, "-m", "codeslm", "stats"], env=env,
                           capture_output=True, text=True, check=True, timeout=60).stdout
    assert "accepted  2 (50%), 1 partly" in human and "typescript" in human
    assert "from the model  p50 " in human

    doctor = subprocess.run([sys.executable, "-m", "codeslm", "doctor", "--no-speed"], env=env,
                            capture_output=True, text=True, timeout=120).stdout
    assert "in use      p50 of the model's suggestions " in doctor
    assert "50% accepted (codeslm stats)" in doctor

    cleared = subprocess.run([sys.executable, "-m", "codeslm", "stats", "--clear"], env=env,
                             capture_output=True, text=True, check=True, timeout=60).stdout
    assert cleared.startswith("deleted ")
    assert stats_json(env)["shown"] == 0


async def test_statistics_can_be_turned_off(tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    env = {**env, "CODESLM_LSP_ACCEPT_STATS": "0"}
    async with lsp_session(root, env) as ed:
        py = ed.open("calc.py", CODE)
        result = await ed.client.text_document_inline_completion_async(inline_params(py, 1, 4))
        assert result is not None
        (item,) = result.items
        assert item.command is None
        late = await ed.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command="codeslm.accepted", arguments=[{"id": "0123456789abcdef"}]))
        assert plain(late) == {"recorded": False}
    assert stats_json(env)["shown"] == 0
    assert not (tmp_path / "home" / "data" / stats.FILENAME).exists()
