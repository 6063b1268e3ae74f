"""Packaging: the wheel carries lsp/ and prompts/ inside codeslm, and the core stays layered."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def _packages_on_disk() -> set[str]:
    found = {"codeslm.lsp", "codeslm.prompts"}
    for init in (REPO / "codeslm").rglob("__init__.py"):
        rel = init.parent.relative_to(REPO)
        found.add(".".join(rel.parts))
    for root, name in ((REPO / "lsp", "codeslm.lsp"), (REPO / "prompts", "codeslm.prompts")):
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    return found


def test_every_package_directory_is_listed_in_pyproject() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() <= listed, sorted(_packages_on_disk() - listed)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, timeout=300)
    return next(out.glob("codeslm-*.whl"))


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "codeslm/prompts/fim_formats.toml" in names
    assert "codeslm/prompts/gen.md" in names
    assert "codeslm/lsp/__init__.py" in names
    assert "codeslm/py.typed" in names
    assert not any(n.startswith(("lsp/", "prompts/", "tests/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "codeslm = codeslm.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_wheel_renders_every_template(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    code = (
        "import codeslm, codeslm.lsp\n"
        "from codeslm import fim, templates\n"
        "assert 'site-packages' in codeslm.__file__, codeslm.__file__\n"
        "for f in fim.load_formats().values():"
        " f.render('a', 'b', path='p', files=[fim.ContextFile('q', 'c')])\n"
        "for n in templates.template_names():\n"
        "    t = templates.load_template(n); t.render(**{v: 'x' for v in t.variables})\n"
        "print(len(fim.load_formats()), len(templates.template_names()))\n"
    )
    result = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    formats, names = map(int, result.stdout.split())
    assert formats >= 9 and names >= 2


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


EDGES = ("cli", "lsp", "llama_cpp", "pygls", "lsprotocol", "backends.llamacpp",
         "backends.openai_compat", "backends.vllm", "backends.ollama", "backends.llama_server")


def test_the_core_never_imports_the_edges() -> None:
    core = [p for p in (REPO / "codeslm").rglob("*.py")
            if "cli" not in p.relative_to(REPO / "codeslm").parts[:1]
            and p.relative_to(REPO / "codeslm").parts[0] not in {"backends"}
            and p.name not in {"bootstrap.py", "__main__.py"}]
    offenders = []
    for path in core:
        for name in _imports(path):
            stripped = name.lstrip(".").removeprefix("codeslm.")
            if any(stripped == e or stripped.startswith(e + ".") for e in EDGES):
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_no_print_outside_the_cli() -> None:
    offenders = []
    for root in (REPO / "codeslm", REPO / "lsp"):
        for path in root.rglob("*.py"):
            rel = path.relative_to(REPO)
            if rel.parts[:2] == ("codeslm", "cli") or path.name == "bootstrap.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_bootstrap_needs_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import codeslm.bootstrap\n"
        "extra = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names"
        " and m.split('.')[0] not in {'codeslm', '__main__'})\n"
        "print(extra)\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
