"""The project, environment and result file an editor test drives ``codeslm lsp`` through."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SOURCE = "def is_even(n):\n    \n"


@dataclass(frozen=True)
class EditorSession:
    """A one-file git project; ``env`` runs the real server on ``model_path`` in isolation
    (its own CODESLM_HOME, no inherited CODESLM_* settings) and tells the editor driver which
    file to open (``CODESLM_TEST_FILE``) and where to write its JSON (``CODESLM_TEST_OUT``)."""

    project: Path
    target: Path
    out: Path
    env: dict[str, str]

    def result(self) -> dict:
        return json.loads(self.out.read_text())


def editor_session(tmp_path: Path, model_path: Path, **extra_env: str) -> EditorSession:
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".git").mkdir()
    target = project / "even.py"
    target.write_text(SOURCE)
    out = tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update(
        CODESLM_HOME=str(tmp_path / "home"), CODESLM_MODEL=str(model_path),
        CODESLM_TEST_CMD=json.dumps([sys.executable, "-m", "codeslm", "lsp"]),
        CODESLM_TEST_FILE=str(target), CODESLM_TEST_OUT=str(out), **extra_env,
    )
    return EditorSession(project, target, out, env)
