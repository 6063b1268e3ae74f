"""``codeslm action`` on the real default model (in-process llama.cpp): a built-in action, the
new type-hints action and a user-defined action from a config file, each written to a real
file with ``--write``. The model's words vary; what is asserted is what the action guarantees
(where the change goes, that nothing else moves, that the file still parses)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.conftest import codeslm_command

pytestmark = [pytest.mark.model, pytest.mark.slow]

SOURCE = """import math


def circle_area(radius):
    return math.pi * radius * radius


def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
"""


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*codeslm_command(), *args], env=env, cwd=cwd, text=True, capture_output=True, timeout=600
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "shapes.py").write_text(SOURCE)
    return root


def test_docstring_and_type_hints_on_the_real_model(project: Path, cli_env: dict[str, str]) -> None:
    path = project / "shapes.py"
    result = run(["action", "docstring", "shapes.py:4", "--write"], cli_env, project)
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    tree = ast.parse(text)
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert ast.get_docstring(functions["circle_area"]), text
    docstring = functions["circle_area"].body[0]
    lines = text.splitlines(keepends=True)
    without = lines[: docstring.lineno - 1] + lines[docstring.end_lineno or 0 :]
    assert "".join(without) == SOURCE  # only the docstring was added
    line = text.splitlines().index("def mean(values):") + 2  # in its body (1-based)
    hints = run(["action", "type_hints", f"shapes.py:{line}", "--write"], cli_env, project)
    assert hints.returncode == 0, hints.stderr
    after = path.read_text()
    mean = next(
        f for f in ast.parse(after).body if isinstance(f, ast.FunctionDef) and f.name == "mean"
    )
    assert mean.returns is not None and mean.args.args[0].annotation is not None, after
    # Only the signature (and perhaps an import) changed: the body is the same.
    assert after.endswith(SOURCE[SOURCE.index("    total = 0") :])


def test_a_configured_action_on_the_real_model(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[actions]]\nname = "pytest"\ntitle = "Write a pytest test"\n'
        'prompt = "Write one pytest test function named test_mean for this {language} '
        'function from {file}:\\n{selection}"\noffered = "cursor"\nmode = "insert_below"\n'
    )
    env = dict(cli_env, CODESLM_CONFIG=str(config))
    listed = run(["action", "--list"], env, project)
    assert "Write a pytest test" in listed.stdout, listed.stderr
    result = run(["action", "pytest", "shapes.py:9", "--write"], env, project)
    assert result.returncode == 0, result.stderr
    text = (project / "shapes.py").read_text()
    assert text.startswith(SOURCE)  # inserted below the function, nothing above it moved
    names = [f.name for f in ast.parse(text).body if isinstance(f, ast.FunctionDef)]
    assert names[:2] == ["circle_area", "mean"] and any(n.startswith("test") for n in names[2:])
