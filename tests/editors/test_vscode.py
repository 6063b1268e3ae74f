"""The VS Code extension builds from a clean checkout: ``npm ci`` from the committed lockfile,
TypeScript compiles, ESLint passes, the logic's unit tests pass (node:test), and vsce packages
a .vsix holding the esbuild bundle (the language client inside it), the icon and the
accept-word/accept-line keybindings. (VS Code itself cannot
run here; its language client is exercised through the same server by the other tests.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None,
                       reason="node and npm are needed to build the VS Code extension"),
]


def _npm(args: list[str], cwd: Path, timeout: int = 300) -> str:
    result = subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"npm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_extension_compiles_lints_tests_and_packages(tmp_path: Path) -> None:
    work = tmp_path / "vscode"
    shutil.copytree(EXTENSION, work, ignore=shutil.ignore_patterns("node_modules", "out",
                                                                   "*.vsix"))
    _npm(["ci", "--no-audit", "--no-fund"], work, timeout=600)
    _npm(["run", "compile"], work)
    _npm(["run", "lint"], work)
    tests = _npm(["test"], work)
    assert "# fail 0" in tests and "# pass " in tests
    _npm(["run", "package"], work)
    vsix = work / "codeslm.vsix"
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    main = "extension/" + manifest["main"].removeprefix("./")
    assert main == "extension/dist/extension.js" and main in names
    # Bundled by esbuild: the language client is inside the bundle, no node_modules shipped.
    assert not any("node_modules" in name for name in names)
    assert not any(name.startswith(("extension/src/", "extension/out/")) for name in names)
    assert "extension/" + manifest["icon"] in names
    assert len(names) < 15, sorted(names)
    commands = {b["command"] for b in manifest["contributes"]["keybindings"]}
    assert {"editor.action.inlineSuggest.acceptNextWord",
            "editor.action.inlineSuggest.acceptNextLine"} <= commands
    assert manifest["contributes"]["commands"]
    assert manifest["engines"]["vscode"] == "^1.91.0"  # language client 11 needs it
