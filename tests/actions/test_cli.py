"""``codeslm action`` and ``codeslm edit`` as real subprocesses on real files, the model
scripted (fake backend): diffs, --write, --json, stdin, the terminal's question, a user action
from a config file, and one-line errors that leave every file as it was."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import codeslm_command

GEO = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n"
DOCUMENTED = GEO.replace("def area(r):\n", 'def area(r):\n    """Area of a circle."""\n')

RULES = [
    {
        "contains": "Document the",
        "reply": '```python\ndef area(r):\n    """Area of a circle."""\n'
        "    return math.pi * r * r\n```",
    },
    {
        "contains": "Add type annotations",
        "reply": "```python\ndef area(r: float) -> float:\n    return math.pi * r * r\n```",
    },
    {"contains": "Instruction: use r ** 2", "reply": "```python\nreturn math.pi * r ** 2\n```"},
    {
        "contains": "Write unit tests",
        "reply": "```python\ndef test_area():\n    assert area(1) > 3\n```",
    },
    {
        "contains": "wrong constant",
        "reply": "```python\ndef area(r):\n    return math.tau * r * r / 2\n```",
    },
    {"contains": "SHOUT", "reply": "```python\nDEF AREA(R):\n    RETURN MATH.PI * R * R\n```"},
]

CONFIG = """\
[[actions]]
name = "shout"
title = "Shout the code"
prompt = "SHOUT this {language} from {file}: {selection}"
offered = "cursor"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "geo.py").write_text(GEO)
    return root


@pytest.fixture
def env(tmp_path: Path, isolated_home: Path) -> dict[str, str]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": RULES, "default": "I cannot help with that."}))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    out = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    out.update(
        CODESLM_HOME=str(isolated_home),
        CODESLM_BACKEND="fake",
        CODESLM_FAKE_SCRIPT=str(script),
        CODESLM_CONFIG=str(config),
        NO_COLOR="1",
    )
    return out


def run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*codeslm_command(), *args],
        env=env,
        cwd=cwd,
        text=True,
        capture_output=True,
        input=stdin,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error: ") and text in lines[0], result.stderr
    assert len(lines) <= 2  # the error and perhaps a hint


def test_list_shows_the_builtin_and_the_configured_actions(
    project: Path, env: dict[str, str]
) -> None:
    result = run(["action", "--list", "--json"], env, project)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"docstring", "tests", "explain", "edit", "fix", "type_hints", "shout"} == set(rows)
    assert rows["shout"]["source"] == env["CODESLM_CONFIG"] and rows["shout"]["offered"] == "cursor"
    plain = run(["action", "--list"], env, project)
    assert "Shout the code" in plain.stdout and "Add type hints" in plain.stdout


def test_a_diff_is_printed_and_nothing_written_without_write(
    project: Path, env: dict[str, str]
) -> None:
    result = run(["action", "docstring", "geo.py:4"], env, project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("--- a/geo.py\n+++ b/geo.py\n")
    assert '+    """Area of a circle."""\n' in result.stdout and "\x1b[" not in result.stdout
    assert (project / "geo.py").read_text() == GEO
    written = run(["action", "docstring", "geo.py:4", "--write"], env, project)
    assert written.returncode == 0, written.stderr
    assert (project / "geo.py").read_text() == DOCUMENTED
    assert "wrote" in written.stderr


def test_type_hints_and_a_configured_action_are_applied(project: Path, env: dict[str, str]) -> None:
    path = project / "geo.py"
    assert run(["action", "type_hints", "geo.py:5", "-w"], env, project).returncode == 0
    assert path.read_text() == GEO.replace("def area(r):", "def area(r: float) -> float:")
    path.write_text(GEO)
    result = run(["action", "shout", f"{path}:4", "--write"], env, project)
    assert result.returncode == 0, result.stderr
    assert path.read_text() == "import math\n\n\nDEF AREA(R):\n    RETURN MATH.PI * R * R\n"


def test_edit_json_for_tools(project: Path, env: dict[str, str]) -> None:
    result = run(["edit", "geo.py:5-5", "use", "r", "**", "2", "--json"], env, project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["action"] == "edit" and data["written"] is False
    (change,) = data["changes"]
    assert change["path"] == str(project / "geo.py") and change["create"] is False
    assert change["new_text"] == GEO.replace("r * r", "r ** 2")
    (edit,) = change["edits"]
    assert edit["range"]["start"]["line"] == 4 and edit["new_text"]
    assert (project / "geo.py").read_text() == GEO


def test_stdin_prints_the_new_text_and_is_never_written(project: Path, env: dict[str, str]) -> None:
    result = run(["edit", "--", "-:5-5", "use r ** 2"], env, project, stdin=GEO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GEO.replace("r * r", "r ** 2")
    diff = run(["edit", "--diff", "--", "-:5-5", "use r ** 2"], env, project, stdin=GEO)
    assert diff.stdout.startswith("--- a/stdin\n+++ b/stdin\n")
    one_line_error(
        run(["edit", "-", "use r ** 2", "--write"], env, project, stdin=GEO),
        2,
        "--write needs a file",
    )


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["action", "docstring", "missing.py:1"], 2, "missing.py"),
        (["action", "docstring", "blob.bin:1"], 2, "binary"),
        (["action", "docstring", "geo.py:40"], 2, "line 40 is past the end of the file (5 lines)"),
        (["action", "docstring", "geo.py:5-2"], 2, "a range goes FIRST-LAST"),
        (["action", "nope", "geo.py:4"], 2, "unknown action 'nope'"),
        (["action", "docstring", "geo.py:1"], 2, "no function or class at the cursor"),
        (["edit", "geo.py:4", " "], 2, "the edit instruction is empty"),
        (["action", "explain", "geo.py:4", "--write"], 3, "has no explanation"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_nothing_is_written(
    project: Path, env: dict[str, str], args: list[str], code: int, text: str
) -> None:
    (project / "blob.bin").write_bytes(b"\x00\x01binary")
    env = dict(env)
    if "explain" in args:  # the model answers with code only: no explanation to insert
        script = Path(env["CODESLM_FAKE_SCRIPT"])
        script.write_text(json.dumps({"replies": ["```python\nx = 1\n```"]}))
    one_line_error(run(args, env, project), code, text)
    assert (project / "geo.py").read_text() == GEO
    assert sorted(p.name for p in project.iterdir()) == [".git", "blob.bin", "geo.py"]


def test_a_mistake_in_a_configured_action_is_one_line(project: Path, env: dict[str, str]) -> None:
    Path(env["CODESLM_CONFIG"]).write_text(CONFIG.replace("{file}", "{path}"))
    one_line_error(
        run(["action", "shout", "geo.py:4"], env, project),
        2,
        "action 'shout': unknown placeholder {path} in prompt",
    )


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path, answer: str) -> tuple[int, str]:
    """Run with stdin and stdout on a pseudo-terminal, typing ``answer``."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*codeslm_command(), *args],
            env=env,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(master, answer.encode())
        _, err = proc.communicate(timeout=120)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return proc.returncode, out.decode() + err
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_a_terminal_is_asked_before_writing(project: Path, env: dict[str, str]) -> None:
    colour = {k: v for k, v in env.items() if k != "NO_COLOR"}
    code, output = _on_a_terminal(["action", "docstring", "geo.py:4"], colour, project, "n\n")
    assert code == 0 and "Apply? [y/N]" in output and "not applied" in output
    assert "\x1b[" in output  # a coloured diff on a terminal
    assert (project / "geo.py").read_text() == GEO
    code, output = _on_a_terminal(["action", "docstring", "geo.py:4"], env, project, "y\n")
    assert code == 0 and "\x1b[" not in output.replace("\x1b[?", "")  # NO_COLOR: plain
    assert (project / "geo.py").read_text() == DOCUMENTED


def test_tests_create_the_conventional_file_and_fix_takes_a_problem(
    project: Path, env: dict[str, str]
) -> None:
    result = run(["action", "tests", "geo.py:4", "--write"], env, project)
    assert result.returncode == 0, result.stderr
    assert "--- /dev/null\n+++ b/test_geo.py" in result.stdout
    created = (project / "test_geo.py").read_text()
    assert created == "from geo import area\ndef test_area():\n    assert area(1) > 3\n"
    assert (project / "geo.py").read_text() == GEO
    fixed = run(["action", "fix", "geo.py:5", "--problem", "wrong constant", "-w"], env, project)
    assert fixed.returncode == 0, fixed.stderr
    assert (project / "geo.py").read_text() == GEO.replace(
        "math.pi * r * r", "math.tau * r * r / 2"
    )
    one_line_error(run(["action", "fix", "geo.py:5"], env, project), 2, "a fix needs the problem")
