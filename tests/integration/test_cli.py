"""The terminal commands on the real model, and their one-line errors on bad input."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import codeslm_command
from tests.ggufgen import tiny_gguf

pytestmark = pytest.mark.model

SAMPLE = '''def is_palindrome(s):
    return 


def shout(text):
    """Upper-case text and add an exclamation mark."""
    return text.upper() + "!"
'''


def run(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None,
        timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], env=env, cwd=cwd, text=True,
                          capture_output=True, input=stdin, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and text in lines[0], result.stderr
    assert len(lines) <= 2  # error plus an optional hint
    assert result.stdout == ""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "pal.py"
    path.write_text(SAMPLE)
    return path


def test_complete_prints_the_middle_without_repeating_the_suffix(
        sample: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["complete", f"{sample}:2:12"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout.rstrip("\n")
    assert "[::-1]" in text
    assert "\n" not in text and "shout" not in text and "def " not in text


def test_complete_json_for_tools(sample: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["complete", f"{sample}:2:12", "--json"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["range"]["start"] == {"line": 2, "column": 12} == data["range"]["end"]
    assert data["text"] and data["mode"] == "single-line" and data["latency_s"] > 0
    assert data["tokens"]["prompt"] > 10 and data["tokens"]["completion"] >= 1


def test_gen_extract_prints_valid_code(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["gen", "-x", "a Python function add(a, b) that returns a + b"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    tree = ast.parse(result.stdout)
    assert any(isinstance(node, ast.FunctionDef) for node in ast.walk(tree))
    assert "```" not in result.stdout


def test_gen_uses_stdin_as_context(cli_env: dict[str, str], tmp_path: Path) -> None:
    context = (
        "class Vector:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n"
    )
    result = run(
        ["gen", "-x", "add a method norm() to this class"], cli_env, tmp_path, stdin=context
    )
    assert result.returncode == 0, result.stderr
    assert "def norm" in result.stdout


def test_gen_output_writes_atomically_and_never_clobbers(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "util.py"
    first = run(
        ["gen", "a function square(x) returning x * x", "--output", str(target)], cli_env, tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "def square" in target.read_text() and "+++ b/" in first.stderr
    target.write_text("KEEP = 1\n")
    refused = run(["gen", "a function cube(x)", "--output", str(target)], cli_env, tmp_path)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert target.read_text() == "KEEP = 1\n"
    forced = run(["gen", "a function cube(x) returning x ** 3", "--output", str(target), "--yes"],
                 cli_env, tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "def cube" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_doctor_reports_and_gives_a_verdict(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["doctor"], cli_env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "verified" in out and "qwen2.5-coder: <|fim_prefix|>=151659" in out
    assert "tokens/s" in out
    verdict = next(line for line in out.splitlines() if "verdict" in line)
    assert any(word in verdict for word in ("good:", "usable:", "slow:"))


def test_bad_inputs_are_one_line_errors(
    sample: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert_one_line_error(run(["complete", f"{tmp_path}/missing.py:1:1"], cli_env, tmp_path), 2,
                          "no such file")
    assert_one_line_error(run(["complete", f"{sample}:99:1"], cli_env, tmp_path), 2,
                          "line 99 is past the end")
    assert_one_line_error(run(["complete", f"{sample}:1:80"], cli_env, tmp_path), 2,
                          "column 80 is past the end of line 1")
    binary = tmp_path / "x.pyc"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    assert_one_line_error(run(["complete", f"{binary}:1:1"], cli_env, tmp_path), 2, "binary")
    assert_one_line_error(run(["gen", "   "], cli_env, tmp_path), 2, "instruction is empty")
    assert_one_line_error(run(["complete", "nocolon"], cli_env, tmp_path), 2, "FILE:LINE:COL")


def test_broken_model_files_are_refused(sample: Path, cli_env: dict[str, str], tmp_path: Path,
                                        model_path: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        truncated.write_bytes(src.read(5_000_000))
    result = run(["complete", f"{sample}:2:12", "--model", str(truncated)], cli_env, tmp_path)
    assert_one_line_error(result, 3, "cut.gguf is truncated")
    assert_one_line_error(run(["complete", f"{sample}:2:12", "--model", str(tmp_path / "no.gguf")],
                              cli_env, tmp_path), 3, "does not exist")
    bogus = tiny_gguf(tmp_path / "bogus.gguf")
    assert_one_line_error(run(["gen", "x", "--model", str(bogus)], cli_env, tmp_path), 3,
                          "cannot load")


def test_models_and_config_show(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".codeslm.toml").write_text("[completion]\nmax_tokens = 40\n")
    shown = run(["config", "show", "--json"], cli_env, tmp_path)
    data = json.loads(shown.stdout)
    assert data["values"]["completion.max_tokens"] == 40
    assert data["sources"]["completion.max_tokens"].endswith(".codeslm.toml")
    assert data["sources"]["model"] == "environment"
    listed = run(["models"], cli_env, tmp_path)
    assert listed.returncode == 0 and "qwen2.5-coder-1.5b (default)" in listed.stdout
    assert "not downloaded" in listed.stdout  # the isolated CODESLM_HOME cache is empty
