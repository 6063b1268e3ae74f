"""User-defined actions in the real language server (``codeslm lsp`` over stdio, the model
scripted): listed beside the built-in ones, run through ``codeslm.action``, picked up when the
config file changes, and a mistake shown once without losing the built-in actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from tests.lsp.lsp_harness import Editor, action_command, lsp_session, pos, server_env

CALC = "def mul(a, b):\n    return a * b\n"
CONFIG = """\
[[actions]]
name = "tidy"
title = "Tidy"
prompt = "TIDY {language} in {file}: {selection}"

[[actions]]
name = "why"
title = "Why"
prompt = "WHY {diagnostics} in {selection}"
offered = "diagnostic"
mode = "insert_above"
"""
RULES = [
    {"contains": "TIDY python in calc.py", "reply": "```python\nreturn b * a\n```"},
    {"contains": "WHY lint: wrong order", "reply": "# the operands are swapped"},
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "calc.py").write_text(CALC)
    (root / ".codeslm.toml").write_text(CONFIG)
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": RULES, "default": "pass\n"}))
    return server_env(tmp_path / "home", CODESLM_BACKEND="fake", CODESLM_FAKE_SCRIPT=str(script))


async def _actions(
    ed: Editor,
    uri: str,
    start: tuple[int, int],
    end: tuple[int, int],
    diagnostics: list[lsp.Diagnostic] | None = None,
) -> dict[str, Any]:
    result = await ed.client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(start=pos(*start), end=pos(*end)),
            context=lsp.CodeActionContext(diagnostics=diagnostics or []),
        )
    )
    out: dict[str, Any] = {}
    for action in result or []:
        command, arguments = action_command(action)
        out[arguments[0].get("action") or command] = (command, arguments)
    return out


async def _run(ed: Editor, command: tuple[str, list[Any]]) -> Any:
    return await ed.client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command[0], arguments=command[1])
    )


async def test_configured_actions_are_listed_and_applied(
    workspace: Path, env: dict[str, str]
) -> None:
    async with lsp_session(workspace, env) as ed:
        uri = ed.open("calc.py", CALC)
        listed = await _actions(ed, uri, (1, 0), (2, 0))
        assert {"codeslm.explain", "codeslm.editSelection", "tidy"} <= set(listed)
        assert "why" not in listed  # offered on diagnostics only
        command, arguments = listed["tidy"]
        assert command == "codeslm.action" and arguments[0]["action"] == "tidy"
        assert (await _run(ed, listed["tidy"]))["applied"] is True
        assert ed.texts[uri] == "def mul(a, b):\n    return b * a\n"
        diagnostic = lsp.Diagnostic(
            range=lsp.Range(start=pos(1, 11), end=pos(1, 16)), message="wrong order", source="lint"
        )
        fixes = await _actions(ed, uri, (1, 11), (1, 16), [diagnostic])
        assert {"codeslm.fix", "why"} <= set(fixes)
        assert (await _run(ed, fixes["why"]))["applied"] is True
        assert ed.texts[uri] == "# the operands are swapped\ndef mul(a, b):\n    return b * a\n"


async def test_a_changed_config_is_picked_up_and_a_mistake_shown_once(
    workspace: Path, env: dict[str, str]
) -> None:
    async with lsp_session(workspace, env) as ed:
        uri = ed.open("calc.py", CALC)
        assert "tidy" in await _actions(ed, uri, (1, 0), (2, 0))
        (workspace / ".codeslm.toml").write_text(CONFIG.replace("{file}", "{path}"))
        for _ in range(2):
            listed = await _actions(ed, uri, (1, 0), (2, 0))
            assert "tidy" not in listed and "codeslm.explain" in listed
        errors = [m.message for m in ed.client.messages if "unknown placeholder" in m.message]
        assert len(errors) == 1 and "action 'tidy': unknown placeholder {path}" in errors[0]
        (workspace / ".codeslm.toml").write_text(CONFIG.replace('"Tidy"', '"Tidy up"'))
        listed = await _actions(ed, uri, (1, 0), (2, 0))
        assert "tidy" in listed
        with pytest.raises(JsonRpcException) as err:
            await _run(ed, ("codeslm.action", [dict(listed["tidy"][1][0], action="nope")]))
        assert err.value.code == -32602 and "unknown action 'nope'" in str(err.value)
