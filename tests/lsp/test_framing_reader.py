"""The message reader on its own (in process): memory stays bounded and framing is repaired.

The end-to-end cases run against the real server in test_framing.py; these check what a
process cannot show directly, such as how many bytes the reader holds at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

from codeslm.lsp.decoding import BodyError, decode, recover
from codeslm.lsp.framing import CHUNK, Frame, MessageReader


def _reader(chunks: Iterator[bytes], max_body: int) -> tuple[MessageReader, list[int]]:
    held: list[int] = []

    async def read() -> bytes:
        held.append(len(reader._buf))
        return next(chunks, b"")

    reader = MessageReader(read, max_body=max_body)
    return reader, held


def _frames(reader: MessageReader) -> list[Frame]:
    async def run() -> list[Frame]:
        frames = []
        while (frame := await reader.next_frame()) is not None:
            frames.append(frame)
        return frames

    return asyncio.run(run())


def _body(msg_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "codeslm/stats"}).encode()


def test_a_body_over_the_limit_is_skipped_without_being_held() -> None:
    size = 64 * 1024 * 1024
    big = b'{"jsonrpc": "2.0", "id": 7, "method": "x", "params": "' + b"a" * size + b'"}'

    def chunks() -> Iterator[bytes]:
        yield f"Content-Length: {len(big)}\r\n\r\n".encode()
        for i in range(0, len(big), CHUNK):
            yield big[i : i + CHUNK]
        yield b"Content-Length: %d\r\n\r\n" % len(_body(8)) + _body(8)

    reader, held = _reader(chunks(), max_body=1024 * 1024)
    frames = _frames(reader)
    assert [f.oversize for f in frames] == [len(big), 0]
    assert recover(frames[0].body) == (7, "x")  # the head names the request to answer
    assert decode(frames[1].body).value["id"] == 8
    assert max(held) <= 1024 * 1024 + 2 * CHUNK


def test_a_lying_length_ends_at_the_next_header() -> None:
    data = (
        b"Content-Length: 2147483648\r\n\r\n"
        + _body(1)
        + b"content-length: %d\n\n" % len(_body(2))
        + _body(2)
    )
    reader, _ = _reader(iter([data]), max_body=1024)
    frames = _frames(reader)
    assert [decode(f.body).value["id"] for f in frames] == [1, 2]


def test_junk_and_bad_lengths_are_skipped_to_the_next_message() -> None:
    good = b"Content-Length: %d\r\n\r\n" % len(_body(3)) + _body(3)
    data = b"garbage\r\n\r\nContent-Length: -4\r\n\r\n{}" + b"x" * 9000 + good
    reader, _ = _reader(iter([data[i : i + 100] for i in range(0, len(data), 100)]), 1024)
    frames = _frames(reader)
    assert [decode(f.body).value["id"] for f in frames] == [3]


def test_limits_of_the_json_decoder() -> None:
    for body, code, msg_id in [
        (b'{"id": 4, "p": ' + b"[" * 5000 + b"]" * 5000 + b"}", -32600, 4),
        (b'{"id": "a", "n": 1' + b"0" * 100 + b"}", -32600, "a"),
        (b'{"id": 5, "n": Infinity}', -32600, 5),
        (b"{nope", -32700, None),
    ]:
        try:
            decode(body)
        except BodyError as exc:
            assert (exc.code, exc.msg_id) == (code, msg_id), body[:40]
        else:
            raise AssertionError(f"accepted {body[:40]!r}")
    assert decode(b'{"a": 1}\xff{"b"').trailing == b'\xff{"b"'
