"""The message loop: frames from :mod:`.framing`, JSON from :mod:`.decoding`, dispatch through
:class:`.protocol.CodeslmProtocol`.

It stands in for pygls' ``run_async`` (see :mod:`.framing` for why). Each frame yields one
message or one rejection; a frame whose declared length was wrong is repaired where the bytes
allow it: too long (the JSON value ends early) -> the rest goes back to the input as the start of
the next message; too short (the JSON value is cut off) -> the bytes already received up to the
next header complete it. The loop ends at the end of the input or when ``stop`` is set; it only
raises what the stream or a handler raises on purpose (``exit`` raises SystemExit).
"""

from __future__ import annotations

import logging
import threading

from .decoding import INVALID_REQUEST, PARSE_ERROR, BodyError, Decoded, decode, recover
from .framing import Frame, MessageReader
from .protocol import CodeslmProtocol, Rejected

log = logging.getLogger(__name__)


async def pump(reader: MessageReader, protocol: CodeslmProtocol, stop: threading.Event) -> None:
    """Read and dispatch messages until the input ends or ``stop`` is set."""
    while not stop.is_set():
        frame = await reader.next_frame()
        if frame is None:
            log.info("the client closed the input")
            return
        try:
            value = _value(reader, frame, protocol)
            if value is not None:
                protocol.receive(value.value)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug, not bad input: keep serving, with the traceback
            log.error("could not handle a message: %s", exc, exc_info=True)


def _value(reader: MessageReader, frame: Frame, protocol: CodeslmProtocol) -> Decoded | None:
    """The decoded message of ``frame``, or None when it was rejected (and answered)."""
    if frame.unframed:
        _refuse_unframed(frame, protocol)
        return None
    if frame.oversize:
        msg_id, method = recover(frame.body)
        protocol.reject(
            Rejected(
                msg_id,
                INVALID_REQUEST,
                f"message of {frame.oversize} bytes{_named(method)} is over "
                f"the {reader.max_body}-byte limit (lsp.max_message_bytes)",
                answer=msg_id is not None or method is None,
            )
        )
        return None
    try:
        decoded = decode(frame.body)
    except BodyError as error:
        completed = _completed(reader, frame, error)
        if completed is None:
            protocol.reject(Rejected(error.msg_id, error.code, error.reason))
            return None
        decoded = completed
    if decoded.trailing:
        reader.unread(decoded.trailing)
        log.warning(
            "framing: Content-Length %d was %d bytes too long; reading them as the next message",
            frame.declared,
            len(decoded.trailing),
        )
    return decoded


def _refuse_unframed(frame: Frame, protocol: CodeslmProtocol) -> None:
    """Answer a request found in bytes without a valid header (never run it: the client's
    framing is broken and should be seen), or log what was skipped."""
    try:
        value = decode(frame.body).value
    except BodyError:
        value = None
    msg_id = value.get("id") if isinstance(value, dict) and "method" in value else None
    if type(msg_id) in (int, str):
        protocol.reject(
            Rejected(
                msg_id,
                INVALID_REQUEST,
                f"{frame.unframed}: the request was "
                "not read (it needs a valid Content-Length header)",
            )
        )
    else:
        log.error(
            "framing: %s; skipped %d bytes to the next message", frame.unframed, len(frame.body)
        )


def _completed(reader: MessageReader, frame: Frame, error: BodyError) -> Decoded | None:
    """A body cut short by a too-small Content-Length, completed from bytes already received."""
    if error.code != PARSE_ERROR:
        return None
    extra = reader.pending(reader.max_body - len(frame.body))
    if not extra.strip():
        return None
    try:
        decoded = decode(frame.body + extra)
    except BodyError:
        return None
    if decoded.trailing:
        return None
    reader.consume(len(extra))
    log.warning(
        "framing: Content-Length %d was %d bytes too short; read the rest of the message",
        frame.declared,
        len(extra),
    )
    return decoded


def _named(method: str | None) -> str:
    return f" ({method})" if method else ""
