"""``codeslm editor NAME``: print or install the shipped configuration for an editor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import editor_files


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "editor",
        parents=parents,
        help="print or install an editor configuration",
        description="Print the configuration codeslm ships for an editor, or install it "
        "where the editor reads it. Installing never replaces a file with other content "
        "unless --force is given.",
        epilog="examples:\n  codeslm editor helix\n  codeslm editor neovim --install\n"
        "  codeslm editor emacs-eglot --install --dest ~/.config/emacs/lisp\n"
        "  codeslm editor --list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "name",
        nargs="?",
        choices=editor_files.NAMES,
        metavar="NAME",
        help="one of: " + ", ".join(editor_files.NAMES),
    )
    p.add_argument(
        "--install", action="store_true", help="copy the configuration where the editor reads it"
    )
    p.add_argument("--dest", type=Path, help="install here instead of the default place")
    p.add_argument("--force", action="store_true", help="replace files with other content")
    p.add_argument(
        "--list", action="store_true", help="list the editors and where --install puts each"
    )
    p.add_argument(
        "--path", action="store_true", help="print the folder of the shipped configurations"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.path:
        print(editor_files.shipped_root())
        return 0
    if not args.list and not args.name:
        print("error: name an editor: " + ", ".join(editor_files.NAMES), file=sys.stderr)
        print("hint: codeslm editor --list shows where --install puts each", file=sys.stderr)
        return 2
    if args.list:
        for name in editor_files.NAMES:
            print(f"{name:<15} -> {editor_files.default_destination(name)}")
        return 0
    if not args.install:
        print(editor_files.show(args.name), end="")
        return 0
    result = editor_files.install(args.name, args.dest, force=args.force)
    for path in result.written:
        print(f"wrote {path}")
    for path in result.unchanged:
        print(f"up to date: {path}")
    print(result.next_steps)
    return 0
