"""Clients as they really talk, byte for byte, to a real ``codeslm lsp`` (scripted backend).

- Zed: the extension (editors/zed/src/lib.rs) passes ``lsp.codeslm.initialization_options``
  (or, without them, ``lsp.codeslm.settings``) as ``initializationOptions`` and returns
  ``{"codeslm": <lsp.codeslm.settings>}`` as the workspace configuration; Zed answers
  ``workspace/configuration`` by looking each item's section up in that object and pushes it
  whole in ``workspace/didChangeConfiguration``.
  The tests build exactly those messages and check the settings take effect.
- A client that answers ``workspace/applyEdit`` with ``null`` gets an error for its
  ``workspace/executeCommand`` instead of a request that never ends.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from editor_wire import RawClient

PY = "def add(a, b):\n    \n\n\ndef mul(a, b):\n    return a * b\n"
GO = "package calc\n\nfunc add(a, b int) int {\n\t\n}\n"
DOCSTRING = '```python\ndef mul(a, b):\n    """Multiply a by b."""\n    return a * b\n```'

ZED_CAPABILITIES: dict[str, Any] = {
    "workspace": {
        "configuration": True,
        "applyEdit": True,
        "workspaceEdit": {"documentChanges": True},
        "didChangeConfiguration": {"dynamicRegistration": True},
    },
    "textDocument": {
        "completion": {"completionItem": {"snippetSupport": True}},
        "codeAction": {
            "codeActionLiteralSupport": {
                "codeActionKind": {"valueSet": ["refactor.rewrite", "quickfix"]}
            }
        },
    },
    "window": {"workDoneProgress": True},
}


def zed_workspace_configuration(settings: Any) -> Any:
    """What the extension's language_server_workspace_configuration returns (see lib.rs)."""
    if settings is None:
        return None
    if isinstance(settings, dict) and list(settings) == ["codeslm"]:
        settings = settings["codeslm"]
    return {"codeslm": settings}


def zed_initialization_options(lsp_codeslm: dict[str, Any]) -> Any:
    """What the extension's language_server_initialization_options returns (see lib.rs)."""
    if lsp_codeslm.get("initialization_options") is not None:
        return lsp_codeslm["initialization_options"]
    configuration = zed_workspace_configuration(lsp_codeslm.get("settings"))
    return None if configuration is None else configuration["codeslm"]


def zed_answers(workspace_config: Any) -> dict[str, Any]:
    """Zed's answer to workspace/configuration: each section looked up in the object."""

    def configuration(message: dict[str, Any]) -> list[Any]:
        out = []
        for item in message["params"]["items"]:
            section = item.get("section")
            if section is None:
                out.append(workspace_config)
            else:
                out.append((workspace_config or {}).get(section))
        return out

    return {"workspace/configuration": configuration}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "calc.py").write_text(PY)
    (root / "calc.go").write_text(GO)
    return root


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "rules": [{"contains": "Document the", "reply": DOCSTRING}],
                "default": "return a + b\n",
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update(
        CODESLM_HOME=str(tmp_path / "home"),
        CODESLM_BACKEND="fake",
        CODESLM_FAKE_SCRIPT=str(script),
        NO_COLOR="1",
        **extra,
    )
    return env


def _items(client: RawClient, uri: str, line: int, character: int) -> int:
    result = client.request(
        "textDocument/completion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 1},
        },
    )["result"]
    if isinstance(result, dict):
        result = result.get("items")
    return len(result or [])


def _eventually(check: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _zed_session(tmp_path: Path, root: Path, lsp_codeslm: dict[str, Any]) -> RawClient:
    """Start the server as Zed does for a user whose settings.json has lsp.codeslm = ..."""
    workspace_config = zed_workspace_configuration(lsp_codeslm.get("settings"))
    client = RawClient(_env(tmp_path), answers=zed_answers(workspace_config))
    client.initialize(root, ZED_CAPABILITIES, zed_initialization_options(lsp_codeslm))
    if workspace_config is not None:
        client.notify("workspace/didChangeConfiguration", {"settings": workspace_config})
    return client


def test_zed_initialization_options_reach_the_server(tmp_path: Path, project: Path) -> None:
    client = _zed_session(
        tmp_path, project, {"initialization_options": {"lsp": {"disabled_languages": ["go"]}}}
    )
    try:
        py = client.open(project / "calc.py", "python")
        go = client.open(project / "calc.go", "go")
        assert _eventually(lambda: _items(client, py, 1, 4) > 0)
        assert _items(client, go, 3, 1) == 0  # turned off by the initialization options
    finally:
        client.close()


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "codeslm-wrapped"])
def test_zed_settings_reach_the_server(tmp_path: Path, project: Path, wrapped: bool) -> None:
    settings: dict[str, Any] = {"lsp": {"disabled_languages": ["python"]}}
    # With initialization_options given, settings reach the server only as the workspace
    # configuration (pulled with workspace/configuration, pushed with didChangeConfiguration).
    client = _zed_session(
        tmp_path,
        project,
        {
            "initialization_options": {"lsp": {"candidates_invoked": 1}},
            "settings": {"codeslm": settings} if wrapped else settings,
        },
    )
    try:
        py = client.open(project / "calc.py", "python")
        go = client.open(project / "calc.go", "go")
        assert _eventually(lambda: _items(client, go, 3, 1) > 0)
        assert _items(client, py, 1, 4) == 0  # turned off by lsp.codeslm.settings
        asked = [m for m in client.seen if m.get("method") == "workspace/configuration"]
        assert asked and asked[0]["params"]["items"][0]["section"] == "codeslm"
        # The user edits settings.json: Zed pushes the whole workspace configuration again.
        client.notify(
            "workspace/didChangeConfiguration",
            {"settings": zed_workspace_configuration({"lsp": {"disabled_languages": ["*"]}})},
        )
        client.wait(
            lambda m: m.get("method") == "codeslm/status" and m["params"]["state"] == "disabled",
            timeout=30,
        )
        assert _items(client, go, 3, 1) == 0
    finally:
        client.close()


def test_a_null_answer_to_apply_edit_ends_the_command_with_an_error(
    tmp_path: Path, project: Path
) -> None:
    # Every server request is answered with null, workspace/applyEdit included.
    client = RawClient(_env(tmp_path, CODESLM_APPLY_EDIT_TIMEOUT_S="3"))
    try:
        client.initialize(
            project,
            {
                "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}},
                "window": {"workDoneProgress": True},
            },
            None,
        )
        uri = client.open(project / "calc.py", "python")
        where = {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 5, "character": 8}, "end": {"line": 5, "character": 8}},
            "context": {"diagnostics": []},
        }
        actions = client.request("textDocument/codeAction", where)["result"]
        command = next(
            a["command"] for a in actions if a["command"]["command"] == "codeslm.docstring"
        )
        response = client.request("workspace/executeCommand", command, timeout=90)
        assert "result" not in response
        assert response["error"]["code"] == -32803  # RequestFailed
        assert "workspace/applyEdit" in response["error"]["message"]
        methods = [m.get("method") for m in client.seen]
        assert "workspace/applyEdit" in methods
        shown = [
            m["params"]["message"] for m in client.seen if m.get("method") == "window/showMessage"
        ]
        assert any("applyEdit" in text for text in shown)
        # The server is still there and answers.
        assert client.request("textDocument/codeAction", where)["result"]
    finally:
        client.close()
