"""The daemon's wire format: one JSON object per line, over a private Unix socket.

A connection carries one operation. The client writes one request line
(``{"op": ..., ...}``) and reads reply lines until the last one: for ``generate`` a line per
chunk (``{"chunk": {...}}``, the last one with ``finish_reason``), for the other operations
one line. A failure is one line ``{"error": {"type", "message", "hint"}}``. Closing the
connection cancels the operation: the daemon stops spending compute on it.

Why not HTTP: the socket is private to one user, has one client library (ours) and carries a
handful of operations, so HTTP would bring a server dependency and parsing with nothing
gained; JSON lines need only the standard library on both sides.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ... import errors
from ...types import ChatMessage, Chunk, GenerationRequest, ModelInfo, Usage

# A request line is a prompt of at most the context window plus a little JSON: 4 MiB is far
# above any real one and bounds what a confused peer can make the daemon buffer.
MAX_LINE_BYTES = 4 * 1024 * 1024

OPERATIONS = ("ping", "generate", "tokenize", "info", "status", "stop", "diagnostics")


def encode(message: dict[str, Any]) -> bytes:
    """One wire line for ``message``."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The object of one wire line; :class:`~codeslm.errors.BackendProtocolError` if it is not
    a JSON object."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise errors.BackendProtocolError(f"daemon sent a malformed line ({exc})") from None
    if not isinstance(value, dict):
        raise errors.BackendProtocolError("daemon sent a line that is not a JSON object")
    return value


def request_to_wire(request: GenerationRequest) -> dict[str, Any]:
    data = dataclasses.asdict(request)
    data["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    return data


def request_from_wire(data: Any) -> GenerationRequest:
    """A :class:`GenerationRequest` from its wire form; ``InputError`` when it is malformed."""
    if not isinstance(data, dict):
        raise errors.InputError("generate needs a request object")
    fields = {f.name for f in dataclasses.fields(GenerationRequest)}
    unknown = set(data) - fields
    if unknown:
        raise errors.InputError(f"unknown request fields: {', '.join(sorted(unknown))}")
    values = dict(data)
    try:
        values["messages"] = tuple(
            ChatMessage(str(m["role"]), str(m["content"])) for m in values.get("messages") or ()
        )
        for name in ("stop", "stop_token_ids", "first_identifier"):
            if name in values:
                values[name] = tuple(values[name] or ())
        return GenerationRequest(**values)
    except (TypeError, ValueError, KeyError) as exc:
        raise errors.InputError(f"malformed generate request ({exc})") from None


def chunk_to_wire(chunk: Chunk) -> dict[str, Any]:
    out: dict[str, Any] = {"text": chunk.text}
    if chunk.finish_reason is not None:
        out["finish_reason"] = chunk.finish_reason
    if chunk.usage is not None:
        out["usage"] = {k: v for k, v in dataclasses.asdict(chunk.usage).items() if v is not None}
    return out


def chunk_from_wire(data: Any) -> Chunk:
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise errors.BackendProtocolError("daemon sent a malformed chunk")
    usage = data.get("usage")
    try:
        parsed = Usage(**usage) if isinstance(usage, dict) else None
    except TypeError:
        raise errors.BackendProtocolError("daemon sent malformed usage") from None
    finish = data.get("finish_reason")
    return Chunk(data["text"], finish if isinstance(finish, str) else None, parsed)


def info_to_wire(info: ModelInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def info_from_wire(data: Any) -> ModelInfo:
    try:
        return ModelInfo(**data)
    except TypeError:
        raise errors.BackendProtocolError("daemon sent malformed model info") from None


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.CodeslmError):
        return {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}}
    return {"error": {"type": "BackendError", "message": f"daemon failed: {exc}", "hint": None}}


def error_from_wire(data: Any) -> errors.CodeslmError:
    """The error a reply carries, as the same :class:`CodeslmError` subclass when known."""
    if not isinstance(data, dict):
        return errors.BackendProtocolError("daemon sent a malformed error")
    kind = getattr(errors, str(data.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.CodeslmError)):
        kind = errors.BackendError
    hint = data.get("hint")
    return kind(
        str(data.get("message", "daemon error")), hint=hint if isinstance(hint, str) else None
    )
