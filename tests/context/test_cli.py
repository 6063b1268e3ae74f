"""``codeslm index`` and the input errors of ``codeslm eval repo`` (no model needed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ..conftest import codeslm_command


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run([*codeslm_command(), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_index_summary_then_incremental(repo: Path) -> None:
    first = _run("index", str(repo))
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert f"indexed {repo}" in out
    assert "python 6" in out and "symbols" in out  # huge.py is under the default 1 MB
    assert "secret" in out and "binary" in out and "generated" in out and "minified" in out
    assert "ignored by .gitignore/.codeslmignore" in out
    assert "indexing repo:" in first.stderr  # progress on stderr (not a terminal: lines)
    (repo / "pkg" / "extra.py").write_text("def extra():\n    return 1\n")
    second = _run("index", "--json", cwd=repo / "pkg")  # the git root is found from below
    data = json.loads(second.stdout)
    assert data["root"] == str(repo) and data["parsed"] == 1 and data["files"] >= 10
    assert data["skipped"][".env"] == "secret"


def test_index_and_eval_input_errors(tmp_path: Path) -> None:
    missing = _run("index", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert len(missing.stderr.strip().splitlines()) == 1
    afile = tmp_path / "f.py"
    afile.write_text("x = 1\n")
    assert _run("index", str(afile)).returncode == 2
    bad_mode = _run("eval", "repo", str(tmp_path), "--context", "none,magic")
    assert bad_mode.returncode == 2 and "magic" in bad_mode.stderr
    empty = _run("eval", "repo", str(tmp_path), "--context", "none")
    assert empty.returncode == 2 and "no line uses a name defined in another file" in empty.stderr
