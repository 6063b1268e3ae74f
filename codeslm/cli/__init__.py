"""The ``codeslm`` command: one module per subcommand, errors turned into one-line messages.

Exit codes: 0 ok; 1 runtime error; 2 usage or input error; 3 model error; 4 backend error;
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CodeslmError

# Subcommand modules under codeslm.cli; each has register(subparsers, parents) and run(args).
COMMANDS = [
    "complete",
    "context_cmd",
    "gen",
    "edit",
    "action",
    "doctor",
    "models",
    "config_cmd",
    "eval",
    "index",
    "lsp",
    "commit_msg",
    "hook",
    "review",
    "serve",
    "stats",
    "setup",
    "editor",
    "tune",  # codeslm tune (issue 17)
]

EPILOG = """examples:
  codeslm complete app.py:12:8          complete at line 12, column 8
  codeslm gen "parse a CSV row" -l python
  codeslm edit app.py:3-9 "simplify"    rewrite lines 3-9 (a diff; --write applies)
  codeslm action docstring app.py:12    run an action (codeslm action --list)
  codeslm models pull                   fetch and verify the default model
  codeslm doctor                        check the setup and measure speed
  codeslm commit-msg                    a commit message for the staged changes
  codeslm index                         index this repository for cross-file context
  codeslm index --prune                 delete indexes of repositories that are gone
  codeslm lsp                           the language server for editors (stdio)
  codeslm stats --week                  local accept statistics of the language server
  codeslm COMMAND --help                the options of one command

exit codes:
  0    success
  1    runtime error (or a failed doctor check)
  2    usage, input or config error
  3    model error: not found, not downloaded, corrupt
  4    backend error: server unreachable, refused or broken stream
  130  interrupted (Ctrl-C)
"""


def _only(argv: Sequence[str]) -> list[str]:
    """The one command module ``argv`` names (``commit-msg`` -> ``commit_msg``), so that a
    git hook does not import every command (0.2-0.3 s of its time); all of them otherwise."""
    first = next(iter(argv), "")
    if "_" in first:  # a module's name is not a command's
        return COMMANDS
    for name in (first.replace("-", "_"), f"{first}_cmd"):
        if name in COMMANDS:
            return [name]
    return COMMANDS


def build_parser(only: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    from .common import common_parent

    parser = argparse.ArgumentParser(
        prog="codeslm",
        description="Local code completion, generation and git help with small code models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codeslm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parent = common_parent()
    for name in only:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers, [parent])
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING
    if verbose == 1 or os.environ.get("CODESLM_LOG", "").lower() == "info":
        level = logging.INFO
    if verbose >= 2 or os.environ.get("CODESLM_LOG", "").lower() == "debug":
        level = logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def _privacy_defaults(command: str) -> None:
    """Opt out of telemetry in every library we may start, and keep hub libraries offline
    except for the commands that download models on request."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if command not in {"models", "serve", "setup"}:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def report_error(err: CodeslmError) -> None:
    """Print a CodeslmError as ``error: ...`` plus an optional ``hint: ...`` on stderr."""
    print(f"error: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"hint: {err.hint}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codeslm`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_only(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    _setup_logging(getattr(args, "verbose", 0))
    _privacy_defaults(args.command)
    try:
        return int(args.run(args) or 0)
    except CodeslmError as err:
        report_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at exit too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
