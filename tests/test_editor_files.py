"""codeslm editor: the shipped configurations are found, printed and installed without ever
losing a user's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.cli import editor_files
from codeslm.errors import InputError
from tests.conftest import REPO


def test_every_editor_prints_something_with_real_paths() -> None:
    assert editor_files.shipped_root().resolve() == (REPO / "editors").resolve()
    for name in editor_files.NAMES:
        text = editor_files.show(name)
        assert text.strip(), name
    assert editor_files.show("helix") == (REPO / "editors/helix/languages.toml").read_text()
    assert "codeslm-lsp-request-timeout" in editor_files.show("emacs-lsp-mode")
    assert str(REPO / "editors" / "neovim") in editor_files.show("neovim")
    with pytest.raises(InputError):
        editor_files.show("notepad")


def test_install_writes_once_and_never_replaces_other_content(tmp_path: Path) -> None:
    dest = tmp_path / "lisp"
    first = editor_files.install("emacs-lsp-mode", dest)
    target = dest / "codeslm-lsp-mode.el"
    assert first.written == [target] and "load-path" in first.next_steps
    again = editor_files.install("emacs-lsp-mode", dest)
    assert again.written == [] and again.unchanged == [target]
    target.write_text(";; my own edits\n")
    with pytest.raises(InputError, match="exists with other content"):
        editor_files.install("emacs-lsp-mode", dest)
    assert target.read_text() == ";; my own edits\n"
    forced = editor_files.install("emacs-lsp-mode", dest, force=True)
    assert forced.written == [target]
    assert target.read_bytes() == (REPO / "editors/emacs/codeslm-lsp-mode.el").read_bytes()


def test_helix_install_leaves_an_existing_languages_file_alone(tmp_path: Path) -> None:
    mine = tmp_path / "languages.toml"
    mine.write_text('[[language]]\nname = "python"\n')
    with pytest.raises(InputError, match="nothing was written"):
        editor_files.install("helix", mine)
    assert mine.read_text() == '[[language]]\nname = "python"\n'
    fresh = tmp_path / "new" / "languages.toml"
    assert editor_files.install("helix", fresh).written == [fresh]
    assert editor_files.install("helix", fresh).unchanged == [fresh]  # already has codeslm


def test_neovim_and_zed_install_their_trees(tmp_path: Path) -> None:
    nvim = editor_files.install("neovim", tmp_path / "pack")
    assert tmp_path / "pack/lua/codeslm/init.lua" in nvim.written
    assert tmp_path / "pack/lsp/codeslm.lua" in nvim.written
    zed = editor_files.install("zed", tmp_path / "zed")
    assert {p.relative_to(tmp_path / "zed").as_posix() for p in zed.written} >= {
        "extension.toml",
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
    }


def test_vscode_without_a_built_vsix_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(editor_files, "vsix", lambda: None)
    assert "npm ci && npm run package" in editor_files.show("vscode")
    with pytest.raises(InputError, match="no built VS Code extension"):
        editor_files.install("vscode")
