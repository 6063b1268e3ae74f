"""The argument object of the action commands: built for a code action, validated when the
command runs (InvalidParams with a clear message when it is malformed).

``{"uri", "version", "range", "instruction"?, "diagnostic"?, "action"?}``: ``action`` names a
user-defined action (the ``codeslm.action`` command); the others have one command each.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.protocol import default_converter

# The converter pygls' servers structure messages with (its public factory, the same hooks).
CONVERTER = default_converter()


@dataclasses.dataclass(frozen=True, slots=True)
class CommandArgs:
    """The validated argument object of an action command."""

    uri: str
    version: int | None
    range: lsp.Range
    instruction: str
    diagnostic: lsp.Diagnostic | None
    action: str | None = None


def arguments(uri: str, version: int, rng: lsp.Range, **extra: Any) -> list[Any]:
    """The one-object argument list of a command (``None`` values left out)."""
    payload: dict[str, Any] = {"uri": uri, "version": version, "range": CONVERTER.unstructure(rng)}
    payload.update({k: v for k, v in extra.items() if v is not None})
    return [payload]


def parse_args(command: str, args: tuple[Any, ...]) -> CommandArgs:
    """Validate the command's argument object; InvalidParams with a clear message if bad."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(
            f"{command} takes one object argument "
            "{uri, version, range, instruction?, diagnostic?, action?}"
        )
    raw = args[0]
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{command}: 'uri' must be a document URI")
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise JsonRpcInvalidParams(f"{command}: 'version' must be an integer")
    try:
        rng = CONVERTER.structure(raw.get("range"), lsp.Range)
    except Exception:
        raise JsonRpcInvalidParams(f"{command}: 'range' must be an LSP range") from None
    diagnostic = None
    if raw.get("diagnostic") is not None:
        try:
            diagnostic = CONVERTER.structure(raw["diagnostic"], lsp.Diagnostic)
        except Exception:
            raise JsonRpcInvalidParams(
                f"{command}: 'diagnostic' must be an LSP diagnostic"
            ) from None
    instruction = raw.get("instruction") or ""
    if not isinstance(instruction, str):
        raise JsonRpcInvalidParams(f"{command}: 'instruction' must be a string")
    action = raw.get("action")
    if action is not None and not isinstance(action, str):
        raise JsonRpcInvalidParams(f"{command}: 'action' must be an action name")
    return CommandArgs(uri, version, rng, instruction, diagnostic, action)
