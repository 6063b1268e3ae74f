"""JSON-RPC hardening on top of pygls: every request gets exactly one answer.

:meth:`CodeslmProtocol.receive` takes each decoded message (see :mod:`.transport`) and checks
its envelope before pygls sees it. pygls would drop a request whose params do not fit the
method, a request whose method is not a string, or a notification method sent with an id,
without answering (the client then waits forever), and it logs a traceback for each. Here:

- not JSON, or not within the limits of :mod:`.decoding` -> ``-32700`` / ``-32600``;
- JSON that is not a JSON-RPC 2.0 message (an array, a number, no ``jsonrpc``, a method that
  is not a string, an id that is not a number or string, a notification method with an id)
  -> ``-32600`` (invalid request), with the id when there is a usable one;
- an unknown method -> ``-32601``; params that do not fit the method -> ``-32602``;
- a request before ``initialize`` -> ``-32002`` (server not initialized), after ``shutdown`` ->
  ``-32600``; notifications in those states are dropped (``exit`` always works).

Each bad message is answered (requests) or dropped (notifications, responses), logged in one
line with the reason, and forgotten: nothing here stops the server.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from cattrs import transform_error
from lsprotocol import types as lsp
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002

_ALWAYS = {lsp.INITIALIZE, lsp.EXIT}  # accepted in any state


class Rejected(Exception):
    """A message that cannot be dispatched: answered with ``code`` when it has an id."""

    def __init__(
        self,
        msg_id: int | str | None,
        code: int,
        reason: str,
        *,
        answer: bool = True,
        level: int = logging.WARNING,
    ) -> None:
        super().__init__(reason)
        self.msg_id = msg_id
        self.code = code
        self.reason = reason
        self.answer = answer  # False for notifications and responses: log only
        self.level = level


def _is_notification(method: str) -> bool:
    """Whether lsprotocol defines ``method`` as a notification (its message has no id)."""
    entry = lsp.METHOD_TO_TYPES.get(method)
    if entry is None or entry[0] is None:
        return False
    return "id" not in attrs.fields_dict(entry[0])


def _valid_id(value: Any) -> bool:
    return type(value) is int or type(value) is str  # not bool, float, null or a container


class CodeslmProtocol(LanguageServerProtocol):
    """LanguageServerProtocol that answers malformed messages instead of dropping them."""

    _initialize_seen = False

    def receive(self, data: Any) -> None:
        """Check, structure and dispatch one decoded message (never raises for bad input)."""
        try:
            message = self._structure(data)
        except Rejected as rejected:
            self.reject(rejected)
            return
        if getattr(message, "method", None) == lsp.INITIALIZE:
            self._initialize_seen = True
        self.handle_message(message)

    def reject(self, rejected: Rejected, *, logged: bool = False) -> None:
        """Answer (requests) and log (always, unless ``logged``) a message that was refused."""
        if not logged:
            log.log(
                rejected.level,
                "bad message%s: %s",
                f" (id {rejected.msg_id!r})" if rejected.msg_id is not None else "",
                rejected.reason,
            )
        if rejected.answer:
            self.send_error(rejected.msg_id, rejected.code, rejected.reason)

    # -- envelope -------------------------------------------------------------------------

    def _structure(self, data: Any) -> Any:
        """The typed message for ``data``; Rejected with the reason when there is none."""
        if not isinstance(data, dict):
            kind = "a batch (array)" if isinstance(data, list) else type(data).__name__
            raise Rejected(None, INVALID_REQUEST, f"not a JSON-RPC message: {kind}")
        has_id = "id" in data
        msg_id = data.get("id") if _valid_id(data.get("id")) else None
        method = data.get("method")
        if data.get("jsonrpc") != self.VERSION:
            if "jsonrpc" not in data and not has_id and isinstance(method, str):
                raise Rejected(
                    None, 0, f"notification {method!r} without jsonrpc dropped", answer=False
                )
            raise Rejected(
                msg_id,
                INVALID_REQUEST,
                f"not a JSON-RPC 2.0 message (jsonrpc {data.get('jsonrpc')!r})",
            )
        if "method" not in data:
            return self._structure_response(data, has_id)
        if not isinstance(method, str):
            raise Rejected(
                msg_id,
                INVALID_REQUEST,
                f"method must be a string, not {_kind(method)}",
                answer=has_id,
            )
        if has_id and msg_id is None:
            raise Rejected(
                None,
                INVALID_REQUEST,
                f"{method}: id must be a number or a string, not {_kind(data['id'])}",
            )
        self._check_state(method, msg_id)
        if has_id and _is_notification(method):
            raise Rejected(msg_id, INVALID_REQUEST, f"{method} is a notification: it takes no id")
        self._check_known(method, msg_id, has_id)
        message_type = self.get_message_type(method)
        if message_type is None:
            message_type = JsonRPCRequestMessage if has_id else JsonRPCNotification
        elif not has_id and "id" in attrs.fields_dict(message_type):
            raise Rejected(None, 0, f"request {method} without an id dropped", answer=False)
        try:
            return self._converter.structure(data, message_type)
        except Exception as exc:  # cattrs says what does not fit; one line of it is enough
            raise Rejected(
                msg_id, INVALID_PARAMS, f"invalid params for {method}: {_why(exc)}", answer=has_id
            ) from None

    def _check_known(self, method: str, msg_id: Any, has_id: bool) -> None:
        """Rejected when no feature handles ``method``: an error for a request, a log line
        for a notification."""
        known = (
            method in self.fm.features
            or method in self.fm.builtin_features
            or method == lsp.CANCEL_REQUEST
        )  # pygls handles cancels before its features
        if known:
            return
        if has_id:
            raise Rejected(msg_id, METHOD_NOT_FOUND, f"unknown method {method}")
        # The spec lets a server ignore "$/" notifications it does not implement.
        raise Rejected(
            None,
            0,
            f"unknown notification {method} dropped",
            answer=False,
            level=logging.DEBUG if method.startswith("$/") else logging.WARNING,
        )

    def _structure_response(self, data: dict[str, Any], has_id: bool) -> Any:
        """A client's answer to a request of ours (never answered back)."""
        if not has_id:
            raise Rejected(
                None,
                INVALID_REQUEST,
                "neither a request, a notification nor a response (no method and no id)",
            )
        if not _valid_id(data["id"]) and data["id"] is not None:
            raise Rejected(
                None, 0, f"a response with an unusable id ({_kind(data['id'])})", answer=False
            )
        if ("result" in data) == ("error" in data):
            raise Rejected(
                None, 0, "a response needs exactly one of result and error", answer=False
            )
        try:
            if "error" in data:
                return self._converter.structure(data, lsp.ResponseErrorMessage)
            response_type = self._result_types.pop(data["id"], None)
            return self._converter.structure(data, response_type or JsonRPCResponseMessage)
        except Exception as exc:
            raise Rejected(
                None, 0, f"unreadable response {data.get('id')!r}: {_why(exc)}", answer=False
            ) from None

    def _check_state(self, method: str, msg_id: int | str | None) -> None:
        """Refuse requests before initialize and after shutdown (spec: -32002 / -32600)."""
        if method in _ALWAYS:
            return
        if not self._initialize_seen:
            raise Rejected(
                msg_id,
                SERVER_NOT_INITIALIZED,
                f"{method} before initialize (send initialize first)",
                answer=msg_id is not None,
            )
        if self._shutdown:
            raise Rejected(
                msg_id, INVALID_REQUEST, f"{method} after shutdown", answer=msg_id is not None
            )

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """Send an error response (``id`` may be None, as for parse errors)."""
        self._send_data(
            {"jsonrpc": self.VERSION, "id": msg_id, "error": {"code": code, "message": message}}
        )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _why(exc: Exception) -> str:
    """One line out of a cattrs structuring error."""
    try:
        reasons = transform_error(exc)  # type: ignore[arg-type]
    except Exception:
        reasons = [str(exc)]
    text = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    return text[:300]
