"""LSP base-protocol framing: a byte stream in, message bodies out, bounded and self-healing.

pygls 2.x reads a header line with an unbounded ``readline`` and the body with one
``read(Content-Length)``: a huge length is read into memory at once, and any header it does not
match exactly (lowercase name, ``\\n`` line ends, a stray byte) leaves it waiting forever. This
reader replaces that loop:

- Header lines end at ``\\n`` (a ``\\r`` before it is optional); header names are
  case-insensitive; the ``Content-Length`` value may be padded with blanks or zeros. A header
  line is at most :data:`MAX_HEADER_LINE` bytes.
- A body is read in chunks and never held beyond ``max_body`` bytes: a longer one is skipped
  (its first bytes are kept so the caller can name the request it came from).
- Anything it cannot read (a negative or non-numeric length, junk between messages, a body
  without a header) is reported once and skipped up to the next ``Content-Length`` header
  (resynchronisation). A valid JSON body cannot contain such a header line: raw line breaks only
  occur between JSON tokens, where the words of a header cannot. So a header found inside a
  body means the declared length was too long, and the body is cut there. A body still short
  of its length when the input goes quiet (:data:`STALL_S`) is read as it is if its bytes
  already hold one whole JSON value: the length was too long and the client is waiting.

Contract: :meth:`MessageReader.next_frame` returns the next :class:`Frame` or None at the end of
the input; it never raises for bad input, only for errors of the underlying stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

CHUNK = 65536
MAX_HEADER_LINE = 4096  # a longer "header" is junk
HEAD_KEPT = 4096  # bytes of a skipped body kept to name its request
# A body still short of its Content-Length after this long without input is checked for being
# a whole message already. Safe at any value: a valid body holds exactly one JSON value, so if
# its start already is one, the declared length was wrong.
STALL_S = 0.3
UNFRAMED_MAX = 65536  # skipped bytes kept to answer a request sent without a valid header
# A Content-Length header line as it can start a message. Used to find the next message after
# junk; \d{1,20} keeps a body's JSON string of digits from matching (it has no line break).
_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\+?\d{1,20}[ \t]*\r?\n", re.IGNORECASE)
_TOKEN = re.compile(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # a header name (RFC 9110 token)
_OVERLAP = 4096  # bytes searched again at a chunk boundary (a header line is never longer)


def _find_header(buf: bytearray, start: int = 0, end: int | None = None) -> re.Match[bytes] | None:
    """The first Content-Length header line in ``buf[start:end]``.

    A header line ends in ``\n``, which compact JSON never contains: looking for that byte
    first (memchr) keeps the scan of a multi-megabyte body cheap.
    """
    if buf.find(b"\n", start, end) < 0:
        return None
    return _HEADER.search(buf, start, len(buf) if end is None else end)


@dataclass(slots=True)
class Frame:
    """One message body, or the head of one that was too large (``oversize`` bytes)."""

    body: bytes
    oversize: int = 0  # > 0: the body was skipped; ``body`` holds its first bytes only
    declared: int = 0  # the Content-Length that was sent
    unframed: str = ""  # set: bytes that looked like a message but had no valid header (why)


class MessageReader:
    """Splits a byte stream into LSP message bodies (see the module docstring)."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], *, max_body: int) -> None:
        """``read`` returns the next chunk of input (``b""`` at the end)."""
        self._read = read
        self.max_body = max_body
        self._buf = bytearray()
        self._eof = False
        self._pending: asyncio.Future[bytes] | None = None  # a read that outlived a timeout
        self._unframed: Frame | None = None  # skipped bytes that start like a JSON object

    # -- buffer ------------------------------------------------------------------------------

    async def _fill(self, timeout: float | None = None) -> bool | None:
        """Read one more chunk into the buffer; False at the end of the input, None when
        nothing came within ``timeout`` (the read goes on and is collected next time)."""
        if self._eof:
            return False
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._read())
        if timeout is not None:
            done, _ = await asyncio.wait({self._pending}, timeout=timeout)
            if not done:
                return None
        data = await self._pending
        self._pending = None
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def unread(self, data: bytes) -> None:
        """Put bytes back at the front of the input (a body that overran its message)."""
        self._buf[:0] = data

    def pending(self, limit: int) -> bytes:
        """The bytes already received up to the next header (at most ``limit``), unconsumed."""
        match = _find_header(self._buf, 0, limit + _OVERLAP)
        end = match.start() if match else len(self._buf)
        return bytes(self._buf[: min(end, limit)])

    def consume(self, n: int) -> None:
        del self._buf[:n]

    # -- frames ------------------------------------------------------------------------------

    async def next_frame(self) -> Frame | None:
        """The next message body (see the module docstring), None at the end of the input."""
        while True:
            length = await self._headers()
            if length is None:
                return None
            if length < 0:
                unframed, self._unframed = self._unframed, None
                if unframed is not None:
                    return unframed
                continue
            frame = await self._body(length)
            if frame is not None:
                return frame

    async def _headers(self) -> int | None:
        """Read one header block; its Content-Length, None at the end of the input, -1 when
        skipped bytes that start like a JSON object wait in ``_unframed``."""
        length: int | None = None
        seen = False
        while True:
            newline = self._buf.find(b"\n", 0, MAX_HEADER_LINE)
            if newline < 0:
                if len(self._buf) >= MAX_HEADER_LINE:
                    if await self._skip_junk(f"a header line longer than {MAX_HEADER_LINE} bytes"):
                        return -1
                    length, seen = None, False
                    continue
                more = await self._read_more()
                if more != 0:
                    return more
                continue
            header = _find_header(self._buf, 0, newline + 1)
            if header is not None and header.start() > 0:
                if await self._skip_junk("junk before a header"):  # e.g. a body's last bytes
                    return -1
                length, seen = None, False
                continue
            line = bytes(self._buf[:newline]).rstrip(b"\r")
            if not line.strip():
                del self._buf[: newline + 1]
                if length is not None:
                    return length
                if seen:
                    log.error("framing: a header block without Content-Length was skipped")
                    seen = False
                continue  # blank lines between messages are harmless
            name, colon, value = line.partition(b":")
            name = name.strip().lower()
            if not colon or not _TOKEN.fullmatch(name):
                if await self._skip_junk("bytes that are not a message header"):
                    return -1
                length, seen = None, False
                continue
            del self._buf[: newline + 1]
            seen = True
            if name != b"content-length":
                continue  # Content-Type and unknown headers: nothing to do
            parsed = _length(value)
            if parsed is None:
                shown = value.strip().decode("latin-1")[:40]
                if await self._skip_junk(f"bad Content-Length {shown!r}"):
                    return -1
                length, seen = None, False
                continue
            length = parsed

    async def _read_more(self) -> int | None:
        """Wait for more header bytes: 0 when some came, -1 when a message sent without a
        header was captured into ``_unframed``, None at the end of the input."""
        filled = await self._fill(STALL_S if self._buf.lstrip()[:1] == b"{" else None)
        if filled is None:  # quiet after what may be a message sent without a header
            if _whole_json(self._buf):
                self._capture(bytes(self._buf), "a message without a Content-Length")
                self._buf.clear()
                return -1
            filled = await self._fill()
        if not filled:
            if self._buf.strip():
                log.error(
                    "framing: the input ended inside a message header (%d bytes dropped)",
                    len(self._buf),
                )
            return None
        return 0

    async def _skip_junk(self, reason: str) -> bool:
        """Drop bytes up to the next Content-Length header (or the end of the input).

        True when the bytes dropped start like a JSON object and fit :data:`UNFRAMED_MAX`:
        they wait in ``_unframed`` so that a request among them can still be answered (the
        caller logs them); otherwise they are logged here."""
        skipped = 0
        kept: bytearray | None = bytearray() if self._buf.lstrip()[:1] == b"{" else None
        while True:
            match = _find_header(self._buf)
            # Without a header yet, keep a tail that may be the start of one.
            end = match.start() if match is not None else max(0, len(self._buf) - _OVERLAP)
            if match is None and not await self._fill():
                end = len(self._buf)  # the end of the input: nothing more can come
            if kept is not None:
                kept += self._buf[:end]
                if len(kept) > UNFRAMED_MAX:
                    kept = None
            skipped += end
            del self._buf[:end]
            if match is not None or self._eof:
                break
        if kept is not None and kept.strip():
            self._capture(bytes(kept), reason)
            return True
        log.error("framing: %s; skipped %d bytes to the next message", reason, skipped)
        return False

    def _capture(self, data: bytes, reason: str) -> None:
        self._unframed = Frame(data, declared=len(data), unframed=reason)

    async def _body(self, length: int) -> Frame | None:
        """Collect a body of ``length`` bytes, cut short at a header found inside it."""
        scanned = 0  # bytes of the body already searched for a header
        kept = 0  # bytes dropped from the front (over max_body), only the head is remembered
        head = b""
        if length > self.max_body:  # the answer names the request once it is skipped
            log.debug(
                "framing: Content-Length %d is over the %d-byte limit "
                "(lsp.max_message_bytes); skipping the body",
                length,
                self.max_body,
            )
        while True:
            available = min(len(self._buf), length - kept)
            match = _find_header(self._buf, max(0, scanned - _OVERLAP), available)
            if match is not None:
                cut = kept + match.start()
                log.error(
                    "framing: Content-Length %d, but the next message starts after %d "
                    "bytes; reading the body up to there",
                    length,
                    cut,
                )
                return self._take(match.start(), cut, length, head)
            scanned = available
            if kept + available >= length:
                return self._take(available, length, length, head)
            if kept + len(self._buf) > self.max_body:
                if not kept:
                    head = bytes(self._buf[:HEAD_KEPT])
                drop = max(0, available - _OVERLAP)
                del self._buf[:drop]
                kept += drop
                scanned -= drop
            filled = await self._fill(STALL_S if not kept and available else None)
            if filled is None:
                if _whole_json(self._buf[:available]):
                    # A whole message, then silence: the length was too long. Waiting for
                    # bytes the client will not send would leave its request unanswered.
                    log.error(
                        "framing: Content-Length %d, but the client stopped after %d bytes "
                        "that hold a whole message; reading it",
                        length,
                        available,
                    )
                    return self._take(available, available, length, head)
                filled = await self._fill()
            if not filled:
                log.error(
                    "framing: the input ended inside a message body (%d of %d bytes)",
                    kept + len(self._buf),
                    length,
                )
                self._buf.clear()
                return None

    def _take(self, n: int, size: int, declared: int, head: bytes) -> Frame:
        """Consume ``n`` buffered bytes that end a body of ``size`` bytes."""
        data = bytes(self._buf[:n])
        del self._buf[:n]
        if head or size > self.max_body:
            return Frame(head or data[:HEAD_KEPT], oversize=size, declared=declared)
        return Frame(data, declared=declared)


def _whole_json(data: bytearray) -> bool:
    """Whether ``data`` is one complete JSON value (checked only when the input stalls)."""
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _length(value: bytes) -> int | None:
    """A Content-Length value: digits, optionally padded with blanks or leading zeros."""
    text = value.strip(b" \t")
    if text.startswith(b"+"):
        text = text[1:]
    if not text or len(text) > 20 or not text.isdigit():
        return None
    return int(text)


# -- byte sources ----------------------------------------------------------------------------


class ThreadedStreamSource:
    """Chunks of a blocking binary stream (stdin), read on a daemon thread one at a time.

    A daemon thread (not pygls' pool) so that a read blocked on a silent client never keeps the
    process from exiting, and one read at a time so nothing piles up unread in memory.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        read1 = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = read1 if callable(read1) else stream.read
        self._requests: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lsp-stdin", daemon=True)
            self._thread.start()
        self._requests.put((loop, future))
        return await future

    def _run(self) -> None:
        while True:
            loop, future = self._requests.get()
            result: Any
            try:
                result = self._read(CHUNK)
            except BaseException as exc:  # handed to the reader, which reports it
                result = exc
            try:
                loop.call_soon_threadsafe(_settle, future, result)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                return
            if isinstance(result, BaseException) or not result:
                return


def _settle(future: asyncio.Future[bytes], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(bytes(result))
