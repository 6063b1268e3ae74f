"""Packaging: the wheel and sdist carry lsp/, prompts/, editors/ and LICENSE, an installed
wheel sets itself up (codeslm setup, codeslm editor), and the core stays layered."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def _packages_on_disk() -> set[str]:
    found = {"codeslm.lsp", "codeslm.prompts", "codeslm.editors"}
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


# One file of every shipped editor configuration (``codeslm editor NAME`` reads them).
EDITOR_FILES = [
    "helix/languages.toml",
    "emacs/codeslm-eglot.el",
    "emacs/codeslm-lsp-mode.el",
    "neovim/lua/codeslm/init.lua",
    "neovim/lsp/codeslm.lua",
    "neovim/init-legacy.lua",
    "zed/extension.toml",
    "zed/Cargo.toml",
    "zed/src/lib.rs",
    "zed/README.md",
    "vscode/package.json",
    "vscode/src/extension.ts",
]


def test_wheel_carries_the_license_and_the_editor_configs(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    license_file = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert "Apache License" in archive.read(license_file).decode()
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    for rel in EDITOR_FILES:
        assert f"codeslm/editors/{rel}" in names, rel
        assert archive.read(f"codeslm/editors/{rel}") == (REPO / "editors" / rel).read_bytes()
    assert not any("node_modules" in n for n in names)


def test_sdist_carries_the_license_and_the_editor_configs(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-x", "-o",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    sdist = next(tmp_path.glob("codeslm-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "LICENSE" in names
    for rel in EDITOR_FILES:
        assert f"editors/{rel}" in names, rel


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


def _fresh_env_with_the_wheel(wheel: Path, tmp_path: Path) -> Path:
    """A new venv with the wheel installed and no codeslm checkout in sight.

    Its dependencies are installed with ``--no-deps`` skipped: building llama-cpp-python takes
    many minutes, so the test environment's site-packages is appended to its path instead
    (after its own site-packages, and without running that folder's .pth files, so the
    checkout's editable install stays out and ``import codeslm`` finds the wheel).
    """
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    deps = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "test-deps.pth").write_text(deps.stdout.strip() + "\n")
    return python


def test_installed_wheel_sets_up_and_ships_editors(
    wheel: Path, tmp_path: Path, model_path: Path
) -> None:
    python = _fresh_env_with_the_wheel(wheel, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update(CODESLM_HOME=str(tmp_path / "home"), HOME=str(tmp_path), NO_COLOR="1")

    def codeslm(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(python), "-c", code, *args] if code else [str(python), "-m", "codeslm", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    helped = codeslm("setup", "--help")
    assert helped.returncode == 0 and "--dry-run" in helped.stdout
    dry = codeslm("setup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"python: {python}" in dry.stdout and "pip wheel" in dry.stdout
    where = codeslm("editor", "--path")
    assert where.returncode == 0 and "site-packages/codeslm/editors" in where.stdout
    shown = codeslm("editor", "helix")
    assert shown.stdout == (REPO / "editors" / "helix" / "languages.toml").read_text()
    installed = codeslm("editor", "emacs-eglot", "--install")
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / ".emacs.d" / "lisp" / "codeslm-eglot.el").read_bytes() == (
        REPO / "editors" / "emacs" / "codeslm-eglot.el").read_bytes()
    nvim = codeslm("editor", "neovim", "--install")
    assert nvim.returncode == 0, nvim.stderr
    pack = tmp_path / ".local/share/nvim/site/pack/codeslm/start/codeslm"
    assert (pack / "lua" / "codeslm" / "init.lua").is_file()
    assert (pack / "lsp" / "codeslm.lua").is_file()
    # The bootstrap is for a checkout: from the package it points at codeslm setup and
    # creates nothing in site-packages.
    boot = codeslm("-m", "codeslm.bootstrap", "install",
                   code="import runpy, sys; sys.argv = sys.argv[2:]; "
                   "runpy.run_module('codeslm.bootstrap', run_name='__main__')")
    assert boot.returncode == 2 and "codeslm setup" in boot.stderr
    assert not (Path(where.stdout.strip()).parents[1] / ".venv").exists()
    # Without llama-cpp-python, the embedded backend's error names codeslm setup.
    missing = codeslm(code="import sys; sys.modules['llama_cpp'] = None\n"
                      "from codeslm.backends.llamacpp import _import_llama\n"
                      "from codeslm.errors import CodeslmError\n"
                      "try: _import_llama()\n"
                      "except CodeslmError as exc: print(exc.hint)\n")
    assert missing.returncode == 0, missing.stderr
    assert missing.stdout.startswith("install it for this CPU with: codeslm setup")
    # The crash check, run from the installed package against the real llama_cpp.
    probed = codeslm(str(model_path), code="import sys; from pathlib import Path\n"
                     "from codeslm.runtime import runtime_check\n"
                     "print(runtime_check.probe(Path(sys.argv[1])))\n")
    assert probed.returncode == 0, probed.stderr
    assert "ok=True" in probed.stdout and "generated tokens" in probed.stdout, probed.stdout


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
