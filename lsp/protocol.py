"""JSON-RPC hardening on top of pygls: every malformed message gets the answer the spec asks for.

pygls drops a request whose params do not match the method's schema without answering it (the
client then waits forever) and ignores bodies that are not JSON or not a JSON-RPC object. Here:

- a body that is not JSON -> error ``-32700`` (parse error) with ``id: null``;
- valid JSON that is not a JSON-RPC 2.0 message -> ``-32600`` (invalid request), with the id
  when there is one;
- a request whose params do not fit the method -> ``-32602`` (invalid params) with its id;
- an unknown method -> ``-32601`` (pygls already does this);
- a request before ``initialize`` -> ``-32002`` (server not initialized), after ``shutdown`` ->
  ``-32600``; notifications in those states are dropped (``exit`` always works).

Nothing here stops the server: each bad message is answered, logged and forgotten.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
SERVER_NOT_INITIALIZED = -32002


class _Malformed:
    """A decoded message that cannot be dispatched; answered with ``code``."""

    def __init__(self, msg_id: Any, code: int, message: str) -> None:
        self.id = msg_id
        self.code = code
        self.message = message


class CodeslmProtocol(LanguageServerProtocol):
    """LanguageServerProtocol that answers malformed messages instead of dropping them."""

    _initialize_seen = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except (JsonRpcInvalidParams, JsonRpcInternalError) as exc:
            method = data.get("method")
            if "id" in data and method not in (None, "initialize", "exit"):
                if not self._initialize_seen:
                    return _Malformed(data.get("id"), SERVER_NOT_INITIALIZED,
                                      "the server is not initialized (send initialize first)")
                if self._shutdown:
                    return _Malformed(data.get("id"), INVALID_REQUEST,
                                      "the server is shutting down")
            known = method in self.fm.features or method in self.fm.builtin_features
            if "id" in data and method is not None and not known:
                return _Malformed(data.get("id"), METHOD_NOT_FOUND, f"unknown method {method}")
            if "id" in data and method is not None:
                log.warning("invalid params for %s (id %r)", method, data.get("id"))
                return _Malformed(data.get("id"), INVALID_PARAMS,
                                  f"invalid params for {method}: {exc.__cause__ or exc}")
            log.warning("dropping a malformed notification %r", method)
            return _Malformed(None, 0, "")

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Malformed):
            if message.code:
                self.send_error(message.id, message.code, message.message)
            return
        if not hasattr(message, "jsonrpc"):
            # JSON, but not a JSON-RPC object (an array, a number, a dict without "jsonrpc").
            msg_id = message.get("id") if isinstance(message, dict) else None
            if isinstance(message, dict) and "id" not in message and "method" in message:
                log.warning("dropping a notification without jsonrpc: %r", message.get("method"))
                return
            self.send_error(msg_id if isinstance(msg_id, int | str) else None, INVALID_REQUEST,
                            "not a JSON-RPC 2.0 message")
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if message.jsonrpc != self.VERSION and msg_id is not None and method is not None:
            self.send_error(msg_id, INVALID_REQUEST, f"unsupported jsonrpc {message.jsonrpc!r}")
            return
        if method == "initialize":
            self._initialize_seen = True
        elif method is not None and method != "exit":
            if not self._initialize_seen:
                if msg_id is not None:
                    self.send_error(msg_id, SERVER_NOT_INITIALIZED,
                                    "the server is not initialized (send initialize first)")
                return
            if self._shutdown and msg_id is not None:
                self.send_error(msg_id, INVALID_REQUEST, "the server is shutting down")
                return
        super().handle_message(message)

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """Send an error response (``id`` may be None, as for parse errors)."""
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id,
                         "error": {"code": code, "message": message}})

    def report_unreadable(self, exc: BaseException) -> None:
        """Answer a body that could not be decoded at all."""
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            log.warning("unparsable message: %s", exc)
            self.send_error(None, PARSE_ERROR, f"parse error: {exc}")
        else:
            log.error("could not handle a message: %s", exc)
