"""Issue 18's malformed messages, each against the real ``codeslm lsp`` process over stdio.

Every case sends its bad bytes, then a valid completion request: the server must still be
alive and answer it correctly (resynchronised on the next valid header), must answer every
request that carried a usable id exactly once, and must log one line per bad message, never a
traceback. Before the fix, the first case killed the server (MemoryError) and the framing
cases left it deaf.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from raw_lsp import (
    PROBE_ANSWER,
    PROBE_TEXT,
    RawServer,
    did_open,
    frame,
    inline,
    message,
    notification,
    request,
)

LIMIT = 256 * 1024  # lsp.max_message_bytes for these tests (the default is 32 MiB)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    srv = RawServer(
        tmp_path_factory.mktemp("framing"), env={"CODESLM_LSP_MAX_MESSAGE_BYTES": str(LIMIT)}
    )
    srv.initialize()
    srv.probe_uri = (srv.root / "probe.py").as_uri()  # type: ignore[attr-defined]
    srv.send_json(did_open(srv.probe_uri, PROBE_TEXT))  # type: ignore[attr-defined]
    yield srv
    srv.close()


def _still_serving(server: RawServer) -> None:
    """The server is alive, answers a valid request correctly, and wrote no traceback."""
    assert server.probe(server.probe_uri) == PROBE_ANSWER  # type: ignore[attr-defined]
    assert server.proc.poll() is None
    assert not server.garbage, f"not a framed message on stdout: {server.garbage[:1]!r}"
    assert "Traceback" not in server.log(), server.log()[-3000:]


def _stats(msg_id: int) -> bytes:
    return json.dumps(request(msg_id, "codeslm/stats", {})).encode()


# -- framing ----------------------------------------------------------------------------------


def _huge(n: int) -> Any:
    return lambda body: f"Content-Length: {n}\r\n\r\n".encode() + body


FRAMINGS: dict[str, Any] = {
    # name: (bytes for a body, whether the request in it must be answered)
    "length 100000000000": (_huge(100_000_000_000), True),
    "length 2 GB": (_huge(2**31), True),
    "10 bytes too short": (lambda b: f"Content-Length: {len(b) - 10}\r\n\r\n".encode() + b, True),
    "10 bytes too long": (lambda b: f"Content-Length: {len(b) + 10}\r\n\r\n".encode() + b, True),
    "no header": (lambda b: b, True),  # answered with an error, not run
    "lowercase header name": (lambda b: frame(b, header="content-length"), True),
    "LF-only line ends": (lambda b: f"Content-Length: {len(b)}\n\n".encode() + b, True),
    "negative length": (lambda b: b"Content-Length: -5\r\n\r\n" + b, True),
    "non-numeric length": (lambda b: b"Content-Length: twelve\r\n\r\n" + b, True),
    "padded length": (lambda b: f"Content-Length:   000{len(b)}  \r\n\r\n".encode() + b, True),
    "junk before the header": (lambda b: b"\x00\xffgarbage}}" + frame(b), True),
    "junk glued to the header": (lambda b: b"abc" + frame(b), True),
    "header line without an end": (lambda b: b"X" * 10_000 + frame(b), True),
    "extra headers": (
        lambda b: (
            (
                f"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                f"X-Other: 1\r\nContent-Length: {len(b)}\r\n\r\n"
            ).encode()
            + b
        ),
        True,
    ),
}


@pytest.mark.parametrize("name", list(FRAMINGS))
def test_framing_mistakes_never_silence_the_server(server: RawServer, name: str) -> None:
    build, answered = FRAMINGS[name]
    msg_id = server.new_id()
    server.send(build(_stats(msg_id)))
    _still_serving(server)  # the valid request after it gets its answer
    if answered:
        assert not server.wait_for({msg_id}, 10), f"request {msg_id} was never answered"
        assert len(server.responses[msg_id]) == 1
    else:
        assert len(server.responses.get(msg_id, [])) <= 1


def test_an_oversized_body_is_skipped_unread_and_answered(server: RawServer) -> None:
    msg_id = server.new_id()
    text = "x = 1\n" * (LIMIT // 3)
    big = json.dumps(request(msg_id, "codeslm/stats", {"pad": text})).encode()
    assert len(big) > LIMIT
    server.send(frame(big))
    answer = server.response(msg_id)
    assert answer["error"]["code"] == -32600 and "limit" in answer["error"]["message"]
    # An oversized notification (a document) is skipped without an answer.
    server.send(message(did_open((server.root / "big.py").as_uri(), text)))
    _still_serving(server)
    assert "over the 262144-byte limit" in server.log()


def test_resynchronising_survives_what_follows_the_bad_frame(server: RawServer) -> None:
    """A lying length followed by bytes that are not UTF-8, then a skipped length followed by
    a header padded with many blanks: both requests after them are found and answered."""
    first, second, third = server.new_id(), server.new_id(), server.new_id()
    server.send(b"Content-Length: 100000000000\r\n\r\n" + _stats(first))
    server.send(b"\xff\xfe" + frame(_stats(second)))
    server.send(b"Content-Length: -1\r\n\r\n{}")
    body = _stats(third)
    server.send(b"Content-Length:" + b" " * 40 + str(len(body)).encode() + b"\r\n\r\n" + body)
    _still_serving(server)
    assert not server.wait_for({first, second, third}, 10)
    assert all(len(server.responses[i]) == 1 for i in (first, second, third))


@pytest.mark.parametrize("extra", [10, 100_000_000_000])
def test_a_too_long_length_then_silence_is_still_answered(server: RawServer, extra: int) -> None:
    """The client sends one message with a length too long and waits for the answer."""
    msg_id = server.new_id()
    body = _stats(msg_id)
    server.send(f"Content-Length: {len(body) + extra}\r\n\r\n".encode() + body)
    assert "result" in server.response(msg_id, timeout=10)
    _still_serving(server)


def test_a_request_without_a_header_then_silence_is_answered(server: RawServer) -> None:
    msg_id = server.new_id()
    server.send(_stats(msg_id))
    answer = server.response(msg_id, timeout=10)
    assert answer["error"]["code"] == -32600 and "Content-Length" in answer["error"]["message"]
    _still_serving(server)


def test_a_body_split_across_writes_is_read_whole(server: RawServer) -> None:
    msg_id = server.new_id()
    data = frame(_stats(msg_id))
    for i in range(0, len(data), 7):
        server.send(data[i : i + 7])
    assert "result" in server.response(msg_id)


# -- JSON and JSON-RPC -------------------------------------------------------------------------


def _deep(msg_id: int, depth: int) -> bytes:
    head = json.dumps(request(msg_id, "codeslm/stats"))[:-1]
    return (head + ', "params": {"a": ' + "[" * depth + "]" * depth + "}}").encode()


def _big_number(msg_id: int, digits: int) -> bytes:
    head = json.dumps(request(msg_id, "textDocument/inlineCompletion"))[:-1]
    return (head + ', "params": {"position": {"line": ' + "9" * digits + "}}}").encode()


BODIES: dict[str, Any] = {
    # name: (body for an id, the error code it must get)
    "method null": (
        lambda i: json.dumps({"jsonrpc": "2.0", "id": i, "method": None}).encode(),
        -32600,
    ),
    "method a number": (
        lambda i: json.dumps({"jsonrpc": "2.0", "id": i, "method": 5}).encode(),
        -32600,
    ),
    "notification method with an id": (
        lambda i: json.dumps(
            request(i, "workspace/didChangeConfiguration", {"settings": {}})
        ).encode(),
        -32600,
    ),
    "cancel with an id": (
        lambda i: json.dumps(request(i, "$/cancelRequest", {"id": 1})).encode(),
        -32600,
    ),
    "number of 5000 digits": (lambda i: _big_number(i, 5000), -32600),
    "number of 300 digits": (lambda i: _big_number(i, 300), -32600),
    "nested 1000 deep": (lambda i: _deep(i, 1000), -32600),
    "nested 100000 deep": (lambda i: _deep(i, 100_000), -32600),
    "NaN": (
        lambda i: (
            json.dumps(request(i, "codeslm/stats"))[:-1] + ', "params": {"x": NaN}}'
        ).encode(),
        -32600,
    ),
    "params not an object": (
        lambda i: json.dumps(request(i, "textDocument/inlineCompletion", "text")).encode(),
        -32602,
    ),
    "unknown method": (lambda i: json.dumps(request(i, "no/such")).encode(), -32601),
    "jsonrpc 1.0": (
        lambda i: json.dumps({"jsonrpc": "1.0", "id": i, "method": "x"}).encode(),
        -32600,
    ),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_every_request_gets_exactly_one_answer(server: RawServer, name: str) -> None:
    build, code = BODIES[name]
    msg_id = server.new_id()
    server.send(frame(build(msg_id)))
    server.response(msg_id)
    _still_serving(server)
    assert server.error_codes(msg_id) == [code], server.responses[msg_id]


@pytest.mark.parametrize("bad_id", [True, 1.5, None, {"a": 1}, [1]])
def test_an_unusable_id_is_answered_with_a_null_id(server: RawServer, bad_id: Any) -> None:
    before = len(server.responses.get(None, []))
    server.send_json({"jsonrpc": "2.0", "id": bad_id, "method": "codeslm/stats"})
    _still_serving(server)
    assert len(server.responses.get(None, [])) == before + 1
    assert server.responses[None][-1]["error"]["code"] == -32600


def test_parse_errors_are_answered_with_a_null_id(server: RawServer) -> None:
    before = len(server.responses.get(None, []))
    for body in (b"{not json", b"", b"\xff\xfe{}", b'{"jsonrpc": "2.0", "id": 3, "meth'):
        server.send(frame(body))
    _still_serving(server)
    codes = [r["error"]["code"] for r in server.responses[None][before:]]
    assert codes == [-32700] * 4


def test_each_bad_message_is_one_log_line(tmp_path: Path) -> None:
    srv = RawServer(tmp_path)
    try:
        srv.initialize()
        start = len(srv.log().splitlines())
        ids = [srv.new_id() for _ in range(5)]
        srv.send(frame(b"{not json"))
        srv.send_json({"jsonrpc": "2.0", "id": ids[0], "method": None})
        srv.send(frame(_deep(ids[1], 5000)))
        srv.send(frame(_big_number(ids[2], 5000)))
        srv.send_json(request(ids[3], "textDocument/inlineCompletion", {"textDocument": 1}))
        srv.send(b"Content-Length: -1\r\n\r\n{}")
        srv.send_json(request(ids[4], "codeslm/stats", {}))
        assert not srv.wait_for(set(ids))
        lines = srv.log().splitlines()[start:]
        bad = [line for line in lines if "bad message" in line or "framing:" in line]
        assert len(bad) == 6, "\n".join(lines)
        assert "Traceback" not in srv.log()
    finally:
        srv.close()


# -- positions -------------------------------------------------------------------------------


@pytest.mark.parametrize("line,character", [(3, 0), (3, 4), (4, 0), (2, 0), (1, 99), (10**9, 0)])
def test_no_item_ends_outside_the_document(server: RawServer, line: int, character: int) -> None:
    uri = (server.root / f"pos{line}_{character}.py").as_uri()
    server.send_json(did_open(uri, PROBE_TEXT))  # lines "def f():", "    " and "" (0 to 2)
    for method in ("textDocument/inlineCompletion", "textDocument/completion"):
        msg_id = server.new_id()
        params = inline(msg_id, uri, line, character)["params"]
        server.send_json(request(msg_id, method, params))
        answer = server.response(msg_id)
        assert "result" in answer, answer
        result = answer["result"] or {}
        for item in result.get("items", []):
            edit = item.get("range") or (item.get("textEdit") or {}).get("range")
            if edit is not None:
                for end in (edit["start"], edit["end"]):
                    assert end["line"] <= 2, item
    _still_serving(server)


def test_exit_still_works_after_bad_input(tmp_path: Path) -> None:
    srv = RawServer(tmp_path)
    srv.initialize()
    srv.send(b"Content-Length: 99999999999\r\n\r\n{}")
    srv.send(frame(b"[[["))
    msg_id = srv.new_id()
    srv.send_json(request(msg_id, "shutdown"))
    assert srv.response(msg_id)["result"] is None
    srv.send_json(notification("exit"))
    assert srv.proc.wait(timeout=20) == 0
