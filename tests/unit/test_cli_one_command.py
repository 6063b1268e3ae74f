"""The CLI imports only the command it runs (a git hook's start-up is time added to every
commit), and that never changes which commands exist or how they parse."""

from __future__ import annotations

import argparse

from codeslm.cli import COMMANDS, _only, build_parser


def _names(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_every_command_is_found_through_its_own_module_alone() -> None:
    everything = _names(build_parser())
    assert everything >= {"hook", "commit-msg", "context", "config", "lsp"}
    for name in everything:
        only = _only([name, "--help"])
        assert len(only) == 1 and name in _names(build_parser(only)), name


def test_anything_else_gets_every_command() -> None:
    for argv in ([], ["--help"], ["--version"], ["bogus"], ["context_cmd"], ["commit_msg"]):
        assert _only(argv) == COMMANDS, argv
    assert _only(["hook", "run", "prepare-commit-msg", "f"]) == ["hook"]
