"""Warming the model's prompt cache where the user is, before they ask.

The editor tells the server where its cursor rests with the ``codeslm/warm`` notification
(``{"textDocument": {"uri"}, "position": {"line", "character"}}``; the shipped editor
configurations send it when the cursor stops in a new place, on an idle timer). The server
then has the engine evaluate the prompt a completion there would send (a ``warm`` request:
lowest priority, dropped for any real request), so that the first suggestion at a new place
does not pay for a cold prompt. A notification for a place the engine already warmed or just
completed at is ignored; an unknown document or a bad position is logged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types as lsp

from .completions import resolve
from .server import CodeslmServer

log = logging.getLogger(__name__)

METHOD = "codeslm/warm"


def _position(params: Any) -> tuple[str, lsp.Position] | None:
    """(uri, position) of a ``codeslm/warm`` notification, or None when malformed."""
    try:
        uri = params.textDocument.uri if hasattr(params, "textDocument") else \
            params["textDocument"]["uri"]
        pos = params.position if hasattr(params, "position") else params["position"]
        line = pos.line if hasattr(pos, "line") else pos["line"]
        character = pos.character if hasattr(pos, "character") else pos["character"]
    except (AttributeError, KeyError, TypeError):
        return None
    if not (isinstance(uri, str) and isinstance(line, int) and isinstance(character, int)):
        return None
    if line < 0 or character < 0:
        return None
    return uri, lsp.Position(line=line, character=character)


def register(server: CodeslmServer) -> None:
    """Register the ``codeslm/warm`` notification on ``server``."""

    @server.feature(METHOD)
    def warm(ls: CodeslmServer, params: Any = None) -> None:
        if not ls.services.config.lsp.warm_ahead:
            return
        found = _position(params)
        if found is None:
            log.info("%s: malformed parameters ignored", METHOD)
            return
        uri, position = found
        target = resolve(ls, uri, position, METHOD)
        if target is None:
            return
        engine = ls.services.typing_engine  # the place's next suggestion comes from it
        if engine.cached(target.document, target.position) is not None:
            return  # typing through a shown suggestion: nothing to warm
        engine.start_warming(target.document, target.position)
