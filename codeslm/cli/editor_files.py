"""The shipped editor configurations (package ``codeslm.editors``) and where each one goes.

``codeslm editor NAME`` prints :func:`show` and, with ``--install``, runs :func:`install`.
Installing never loses a user's file: a destination that exists with other content is
refused (``force`` replaces it), and each file is written whole through a temporary file.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

NAMES = ("neovim", "emacs-eglot", "emacs-lsp-mode", "helix", "zed", "vscode")


def shipped_root() -> Path:
    """The folder holding the shipped configurations (``editors/`` in a checkout)."""
    return Path(str(importlib.resources.files("codeslm.editors")))


def _xdg(name: str, default: str) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else Path.home() / default


@dataclass(frozen=True, slots=True)
class Result:
    """What an install did: the files written (or already current) and what to do next."""

    written: list[Path]
    unchanged: list[Path]
    next_steps: str


def _copy(pairs: list[tuple[Path, Path]], force: bool) -> tuple[list[Path], list[Path]]:
    """Copy source -> destination pairs; all destinations are checked before any write."""
    todo: list[tuple[Path, Path]] = []
    unchanged: list[Path] = []
    for src, dst in pairs:
        if dst.exists():
            if dst.is_file() and dst.read_bytes() == src.read_bytes():
                unchanged.append(dst)
                continue
            if not force:
                raise InputError(
                    f"{dst} exists with other content; nothing was written",
                    hint="merge it by hand from `codeslm editor NAME`, or pass "
                    "--force to replace it",
                )
        todo.append((src, dst))
    for src, dst in todo:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(src.read_bytes())
        os.replace(tmp, dst)
    return [dst for _, dst in todo], unchanged


def _tree(src_dir: Path, dst_dir: Path, patterns: tuple[str, ...]) -> list[tuple[Path, Path]]:
    pairs = []
    for pattern in patterns:
        for src in sorted(src_dir.glob(pattern)):
            if src.is_file():
                pairs.append((src, dst_dir / src.relative_to(src_dir)))
    return pairs


def vsix() -> Path | None:
    """The packaged VS Code extension, when the package was built with it."""
    found = sorted((shipped_root() / "vscode").glob("*.vsix"))
    return found[0] if found else None


def default_destination(name: str) -> Path:
    """Where ``--install`` puts the configuration of ``name``."""
    if name == "neovim":
        return _xdg("XDG_DATA_HOME", ".local/share") / "nvim/site/pack/codeslm/start/codeslm"
    if name.startswith("emacs-"):
        return Path.home() / ".emacs.d" / "lisp"
    if name == "helix":
        return _xdg("XDG_CONFIG_HOME", ".config") / "helix" / "languages.toml"
    if name == "zed":
        return _xdg("XDG_DATA_HOME", ".local/share") / "codeslm" / "zed-extension"
    if name == "vscode":
        return Path("code")  # the `code` command, not a folder
    raise unknown(name)


def unknown(name: str) -> InputError:
    return InputError(f"unknown editor {name!r}", hint="one of: " + ", ".join(NAMES))


_EL = {"emacs-eglot": "codeslm-eglot", "emacs-lsp-mode": "codeslm-lsp-mode"}


def show(name: str) -> str:
    """The configuration of ``name`` as text to read or paste (with real paths in it)."""
    root = shipped_root()
    if name == "helix":
        return (root / "helix" / "languages.toml").read_text()
    if name in _EL:
        return (root / "emacs" / f"{_EL[name]}.el").read_text()
    if name == "neovim":
        return (
            f"-- codeslm for Neovim: the plugin is in {root / 'neovim'}\n"
            "-- (`codeslm editor neovim --install` copies it where Neovim loads packages).\n"
            f"vim.opt.runtimepath:append('{root / 'neovim'}')\n"
            "-- Neovim 0.7-0.10: ghost text drawn by the plugin\n"
            "require('codeslm').setup({ settings = { lsp = { debounce_ms = 150 } } })\n"
            "-- <C-l> accepts, <C-b> its next word, <S-Tab> its next line, <M-l> asks.\n"
            "-- Neovim 0.11+: instead of setup(), vim.lsp.enable('codeslm') (see "
            f"{root / 'neovim' / 'init-0.11.lua'})\n"
        )
    if name == "zed":
        return (root / "zed" / "README.md").read_text() + (
            f"\nThe extension's files are in {root / 'zed'}; `codeslm editor zed --install` "
            f'copies them to {default_destination("zed")} for "zed: install dev extension".\n'
        )
    if name == "vscode":
        packaged = vsix()
        if packaged is not None:
            return (
                f"The VS Code extension is {packaged}\n"
                f"Install it with: code --install-extension {packaged}\n"
                "(or `codeslm editor vscode --install`).\n"
            )
        return (
            f"The VS Code extension's sources are in {root / 'vscode'}; this package has "
            "no built .vsix. Build and install it (needs Node.js 20+):\n"
            f"  cp -r {root / 'vscode'} /tmp/codeslm-vscode && cd /tmp/codeslm-vscode\n"
            "  npm ci && npm run package\n"
            "  code --install-extension codeslm.vsix\n"
        )
    raise unknown(name)


def install(name: str, dest: Path | None = None, *, force: bool = False) -> Result:
    """Put the configuration of ``name`` where the editor reads it (see the module doc)."""
    root = shipped_root()
    target = dest or default_destination(name)
    if name == "helix":
        return _install_helix(root, target, force)
    if name in _EL:
        return _install_emacs(name, root, target, force)
    if name == "neovim":
        pairs = _tree(root / "neovim", target, ("lua/**/*.lua", "lsp/*.lua"))
        written, same = _copy(pairs, force)
        return Result(
            written,
            same,
            "Neovim loads it from there; in init.lua add "
            "require('codeslm').setup() (0.7-0.10) or vim.lsp.enable('codeslm') (0.11+)",
        )
    if name == "zed":
        pairs = _tree(root / "zed", target, ("*.toml", "*.md", "src/*.rs"))
        written, same = _copy(pairs, force)
        return Result(
            written,
            same,
            f'in Zed run "zed: install dev extension" and choose '
            f"{target}; then configure it as its README.md says",
        )
    if name == "vscode":
        return _install_vscode(target, from_path=dest is None)
    raise unknown(name)


def _install_helix(root: Path, target: Path, force: bool) -> Result:
    """Helix has one languages.toml for everything: written only when there is none."""
    path = target if target.suffix == ".toml" else target / "languages.toml"
    src = root / "helix" / "languages.toml"
    if path.exists() and "[language-server.codeslm]" in path.read_text() and not force:
        return Result([], [path], "helix already has a codeslm language server")
    if path.exists() and not force:
        raise InputError(
            f"{path} exists (your other languages); nothing was written",
            hint="add the lines of `codeslm editor helix` to it by hand",
        )
    written, same = _copy([(src, path)], force=True)
    return Result(written, same, "restart Helix; `:lsp-restart` in an open file")


def _install_emacs(name: str, root: Path, target: Path, force: bool) -> Result:
    feature = _EL[name]
    written, same = _copy([(root / "emacs" / f"{feature}.el", target / f"{feature}.el")], force)
    hook = "eglot-ensure" if name == "emacs-eglot" else "lsp-deferred"
    return Result(
        written,
        same,
        "add to your init file:\n"
        f'  (add-to-list \'load-path "{target}")\n'
        f"  (require '{feature})\n"
        f"  (add-hook 'python-mode-hook #'{hook})",
    )


def _install_vscode(target: Path, *, from_path: bool) -> Result:
    """``code --install-extension`` with the packaged .vsix; ``target`` is the ``code``
    command (looked up on PATH when ``from_path``)."""
    packaged = vsix()
    if packaged is None:
        raise InputError(
            "this package has no built VS Code extension (.vsix)",
            hint="build it as `codeslm editor vscode` says",
        )
    code = shutil.which(str(target)) if from_path else str(target)
    if code is None:
        raise InputError(
            "the `code` command is not on PATH",
            hint=f"install {packaged} from VS Code's Extensions view",
        )
    done = subprocess.run(
        [code, "--install-extension", str(packaged)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise InputError(
            f"code --install-extension failed: "
            f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
    return Result([packaged], [], "reload VS Code's window")
