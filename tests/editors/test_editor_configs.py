"""Every editor config in editors/ at least parses with its own tool: Lua with Neovim's LuaJIT,
Emacs Lisp read (and byte-compiled where its package is installed), TOML for Helix and Zed,
and the Helix/Neovim configs name the server command the CLI provides."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

EDITORS = Path(__file__).resolve().parents[2] / "editors"


@pytest.mark.skipif(shutil.which("nvim") is None and shutil.which("nvim", path="/usr/bin") is None,
                    reason="neovim is not installed")
def test_lua_files_compile_with_neovims_luajit(tmp_path: Path) -> None:
    files = sorted((EDITORS / "neovim").rglob("*.lua"))
    assert len(files) >= 4
    script = tmp_path / "check.lua"
    script.write_text(
        "local bad = {}\n"
        "local ok, err = pcall(function()\n"
        f"  for _, f in ipairs(vim.fn.json_decode([==[{_json([str(f) for f in files])}]==])) do\n"
        "    local chunk, problem = loadfile(f)\n"
        "    if not chunk then table.insert(bad, problem) end\n"
        "  end\n"
        "end)\n"
        "if not ok then table.insert(bad, tostring(err)) end\n"
        f"local out = io.open([==[{tmp_path / 'out.txt'}]==], 'w')\n"
        "out:write(table.concat(bad, '\\n')) out:close()\n"
        "vim.cmd('qa!')\n")
    nvim = shutil.which("nvim", path="/usr/bin") or "nvim"
    subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"],
                   check=True, timeout=60, capture_output=True)
    assert (tmp_path / "out.txt").read_text() == ""


def _json(value: object) -> str:
    return json.dumps(value)


def _elisp(text: str) -> str:
    """An Emacs Lisp string literal (JSON's escapes are Emacs Lisp's for these texts)."""
    return json.dumps(text)


@pytest.mark.skipif(shutil.which("emacs") is None, reason="emacs is not installed")
def test_emacs_lisp_reads_and_the_eglot_config_byte_compiles(tmp_path: Path) -> None:
    for name in ("codeslm-eglot.el", "codeslm-lsp-mode.el"):
        source = EDITORS / "emacs" / name
        check = subprocess.run(
            ["emacs", "--batch", "-Q", "--eval",
             f'(with-temp-buffer (insert-file-contents "{source}") (emacs-lisp-mode) '
             "(check-parens) (goto-char (point-min)) "
             "(condition-case nil (while t (read (current-buffer))) (end-of-file nil)))"],
            capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
    copy = tmp_path / "codeslm-eglot.el"
    shutil.copy(EDITORS / "emacs" / "codeslm-eglot.el", copy)
    compiled = subprocess.run(
        ["emacs", "--batch", "-q", "--eval", "(setq byte-compile-error-on-warn nil)",
         "-f", "batch-byte-compile", str(copy)], capture_output=True, text=True, timeout=120)
    if "Cannot open load file" in compiled.stderr and "eglot" in compiled.stderr:
        pytest.skip("eglot is not installed (elpa-eglot)")
    assert compiled.returncode == 0, compiled.stderr
    assert (tmp_path / "codeslm-eglot.elc").exists()
    assert "Error" not in compiled.stderr


def test_helix_and_zed_configs() -> None:
    helix = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    server = helix["language-server"]["codeslm"]
    assert server["command"] == "codeslm" and server["args"] == ["lsp"]
    for language in helix["language"]:
        names = [s["name"] if isinstance(s, dict) else s for s in language["language-servers"]]
        assert "codeslm" in names
    zed = tomllib.loads((EDITORS / "zed" / "extension.toml").read_text())
    assert "codeslm" in zed["language_servers"]
    lib = (EDITORS / "zed" / "src" / "lib.rs").read_text()
    assert '"lsp"' in lib
    # The user's lsp.codeslm settings are handed over (tests/editors/test_lsp_clients.py sends
    # the server what Zed then sends); the README names every language the extension lists.
    assert "fn language_server_initialization_options" in lib
    assert "fn language_server_workspace_configuration" in lib
    cargo = tomllib.loads((EDITORS / "zed" / "Cargo.toml").read_text())
    version = cargo["dependencies"]["zed_extension_api"]
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 7), version
    readme = (EDITORS / "zed" / "README.md").read_text()
    for language in zed["language_servers"]["codeslm"]["languages"]:
        assert f'"{language}"' in readme, language


def test_every_editor_has_a_readme_section() -> None:
    readme = (EDITORS / "README.md").read_text()
    for heading in ("## VS Code", "## Neovim", "## Helix", "## Emacs", "## Zed"):
        assert heading in readme, heading


@pytest.mark.skipif(shutil.which("emacs") is None, reason="emacs is not installed")
def test_lsp_mode_partial_accept_takes_a_word_or_a_line() -> None:
    """The part of a ghost-text suggestion M-f / C-e insert (lsp-mode 9's overlay itself is
    not in Debian 12, so only this choice is run here)."""
    cases = {
        ("return n % 2 == 0", "word"): "return",
        (" % 2 == 0", "word"): " %",
        ("  x", "word"): "  x",
        ("abc\ndef", "line"): "abc",
        ("\nxyz\nq", "line"): "\nxyz",
    }
    forms = " ".join(f"(codeslm-lsp--take {_elisp(text)} '{unit})" for text, unit in cases)
    run = subprocess.run(
        ["emacs", "--batch", "-q", "--eval",
         f"(progn (require 'lsp-mode) (add-to-list 'load-path \"{EDITORS / 'emacs'}\") "
         f"(require 'codeslm-lsp-mode) (princ (json-encode (list {forms}))))"],
        capture_output=True, text=True, timeout=120)
    if "Cannot open load file" in run.stderr and "lsp-mode" in run.stderr:
        pytest.skip("lsp-mode is not installed (elpa-lsp-mode)")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == list(cases.values())
