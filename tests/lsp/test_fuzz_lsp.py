"""Fuzzing the real ``codeslm lsp`` process over stdio with generated messages (issue 18).

Hypothesis generates batches of valid and malformed messages (framing, JSON, JSON-RPC
envelopes, LSP params, positions, URIs, huge and binary documents, cancel storms) and writes
them to one long-lived server (fake backend). After each batch the server must be alive, must
still complete a probe document correctly, and must have answered every request that carried a
usable id exactly once (a message whose framing destroyed it may go unanswered, but never twice);
nothing but framed JSON may appear on its stdout, and its log holds no traceback.

At least :data:`MIN_MESSAGES` messages per run (``CODESLM_FUZZ_BATCHES`` changes the number of
batches). The summary (messages, deaths, unanswered requests, peak RSS) is printed and, when
``CODESLM_FUZZ_REPORT`` names a file, written there as JSON for benchmarks/RESULTS.md. No
shrinking: the server keeps state between batches, so a failing batch is reported as generated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
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

pytestmark = pytest.mark.slow

BATCHES = int(os.environ.get("CODESLM_FUZZ_BATCHES", "210"))
MIN_MESSAGES = 10_000
LIMIT = 1024 * 1024  # lsp.max_message_bytes: documents above it exercise the skip path


@dataclass
class Batch:
    """Bytes to write (one write each) and what must come back."""

    writes: list[bytes] = field(default_factory=list)
    must: set[Any] = field(default_factory=set)  # ids answered exactly once
    may: set[Any] = field(default_factory=set)  # ids answered at most once
    messages: int = 0
    sent: dict[Any, bytes] = field(default_factory=dict)  # the bytes of each id (to report)

    def add(self, data: bytes, *, must: Any = None, may: Any = None, count: int = 1) -> None:
        self.writes.append(data)
        self.messages += count
        if must is not None:
            self.must.add(must)
            self.sent[must] = data
        if may is not None:
            self.may.add(may)
            self.sent[may] = data


class Ids:
    """Fresh request ids: ints and strings, never reused in a run."""

    def __init__(self) -> None:
        self.n = 10_000_000

    def __call__(self, as_str: bool = False) -> int | str:
        self.n += 1
        return f"r{self.n}" if as_str else self.n


IDS = Ids()

# -- strategies ------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
lines = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 10**9, 2**31 - 1, -1]), st.integers(0, 50))
chars = st.one_of(st.sampled_from([0, 1, 4, 5, 99, 2**31 - 1, -3]), st.integers(0, 80))
snippets = st.one_of(
    st.sampled_from(
        [
            "def f():\n    ",
            "x = 1\n",
            "class A:\n    def m(self):\n        ",
            "import os\nos.",
            "\x00\x01\x02binary\xff",
            "😀漢\r\n\r",
            "",
        ]
    ),
    st.text(max_size=40),
)
# Repeats of a snippet: up to about 4 MB, over the 1 MiB message limit of this run.
sizes = st.sampled_from([1, 1, 1, 1, 5, 50, 2_000, 20_000])
weird_uris = st.sampled_from(
    [
        "",
        "not a uri",
        "file://",
        "file:///",
        "untitled:Untitled-1",
        "file:///%ZZ/x.py",
        "file://host/share/x.py",
        "http://example.com/x.py",
        "file:///dev/zero",
        "file:///proc/self/mem",
        "file:///" + "a/" * 500 + "x.py",
        "file:///tmp/\x00x.py",
        "vscode-notebook-cell:/x#y",
    ]
)


def _doc_uris(root: Path) -> list[str]:
    return [(root / f"fuzz{i}.py").as_uri() for i in range(4)]


@st.composite
def uris(draw: st.DrawFn, root: Path) -> str:
    return draw(st.one_of(st.sampled_from(_doc_uris(root)), weird_uris))


@st.composite
def texts(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 30)) == 0:  # over the message limit: skipped unread
        char, times = draw(st.sampled_from([("x", 1_200_000), ("\x00", 200_000), ("😀", 100_000)]))
        return char * times
    return draw(snippets) * draw(sizes)


def _position() -> Any:
    return st.fixed_dictionaries({"line": lines, "character": chars})


@st.composite
def completion_request(draw: st.DrawFn, batch: Batch, root: Path) -> None:
    msg_id = IDS(draw(st.booleans()))
    method = draw(
        st.sampled_from(
            ["textDocument/inlineCompletion", "textDocument/completion", "textDocument/codeAction"]
        )
    )
    params: dict[str, Any] = {"textDocument": {"uri": draw(uris(root))}}
    if method.endswith("codeAction"):  # the menu of refactors for a range (no model call)
        params["range"] = {"start": draw(_position()), "end": draw(_position())}
        params["context"] = {"diagnostics": []}
    else:
        params["position"] = draw(_position())
    if method.endswith("inlineCompletion"):
        params["context"] = {"triggerKind": draw(st.sampled_from([1, 2, 2, 3, 0]))}
    batch.add(message(request(msg_id, method, params)), must=msg_id)


@st.composite
def document_change(draw: st.DrawFn, batch: Batch, root: Path) -> None:
    uri = draw(uris(root))
    kind = draw(st.sampled_from(["open", "open", "change", "change", "close", "save"]))
    version = draw(st.integers(-1, 1000))
    if kind == "open":
        msg = did_open(uri, draw(texts()), version)
    elif kind == "change":
        change: dict[str, Any] = {"text": draw(texts())}
        if draw(st.booleans()):
            change["range"] = {"start": draw(_position()), "end": draw(_position())}
        msg = notification(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )
    elif kind == "close":
        msg = notification("textDocument/didClose", {"textDocument": {"uri": uri}})
    else:
        msg = notification("textDocument/didSave", {"textDocument": {"uri": uri}})
    batch.add(message(msg))


@st.composite
def cancel_storm(draw: st.DrawFn, batch: Batch, root: Path) -> None:
    uri = draw(st.sampled_from(_doc_uris(root)))
    ids = [IDS() for _ in range(draw(st.integers(2, 12)))]
    for i, msg_id in enumerate(ids):
        batch.add(
            message(inline(msg_id, uri, i % 3, 0, trigger=draw(st.sampled_from([1, 2])))),
            must=msg_id,
        )
        if draw(st.booleans()):
            target = draw(st.sampled_from(ids[: i + 1]))
            batch.add(message(notification("$/cancelRequest", {"id": target})))
    for target in draw(st.lists(st.sampled_from(ids), max_size=len(ids))):
        batch.add(message(notification("$/cancelRequest", {"id": target})))


METHODS = [
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "textDocument/codeAction",
    "workspace/executeCommand",
    "workspace/didChangeConfiguration",
    "textDocument/didOpen",
    "textDocument/didChange",
    "$/cancelRequest",
    "$/setTrace",
    "initialized",
    "codeslm/stats",
    "workspace/didChangeWatchedFiles",
    "no/such/method",
    "",
    "$/unknown",
]


@st.composite
def envelope(draw: st.DrawFn, batch: Batch) -> None:
    """A JSON-RPC object with any of its parts wrong."""
    msg: dict[str, Any] = {}
    jsonrpc = draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", None, 2, "missing"]))
    if jsonrpc != "missing":
        msg["jsonrpc"] = jsonrpc
    id_kind = draw(
        st.sampled_from(["int", "str", "none", "missing", "bool", "float", "list", "dict"])
    )
    usable = id_kind in ("int", "str")
    if id_kind != "missing":
        msg["id"] = {
            "int": IDS(),
            "str": IDS(True),
            "none": None,
            "bool": True,
            "float": 1.5,
            "list": [IDS()],
            "dict": {"id": IDS()},
        }[id_kind]
    has_method = draw(st.integers(0, 9)) > 0
    if has_method:
        msg["method"] = draw(
            st.one_of(
                st.sampled_from(METHODS),
                st.text(max_size=20),
                json_scalars,
                st.lists(st.integers(), max_size=2),
            )
        )
    if draw(st.booleans()):
        msg["params"] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        msg[draw(st.sampled_from(["result", "error"]))] = draw(json_values)
    batch.add(message(msg), must=msg["id"] if usable and has_method else None)


@st.composite
def bad_json(draw: st.DrawFn, batch: Batch) -> None:
    msg_id = IDS()
    head = json.dumps(request(msg_id, "codeslm/stats"))[:-1]
    kind = draw(st.sampled_from(["deep", "number", "nan", "bytes", "cut", "utf8", "empty"]))
    if kind == "deep":
        depth = draw(st.sampled_from([50, 99, 101, 1000, 100_000]))
        body = head + ', "params": {"a": ' + "[" * depth + "]" * depth + "}}"
        batch.add(frame(body.encode()), must=msg_id)
    elif kind == "number":
        digits = draw(st.sampled_from([19, 65, 300, 4301, 20_000]))
        body = head + ', "params": {"n": ' + "7" * digits + "}}"
        batch.add(frame(body.encode()), must=msg_id)
    elif kind == "nan":
        batch.add(frame((head + ', "params": {"x": -Infinity}}').encode()), must=msg_id)
    elif kind == "bytes":
        batch.add(frame(draw(st.binary(max_size=64))))
    elif kind == "cut":
        full = json.dumps(request(msg_id, "codeslm/stats", {"k": "v"})).encode()
        batch.add(frame(full[: draw(st.integers(1, len(full) - 1))]))
    elif kind == "utf8":
        batch.add(frame(head.encode() + b', "x": "\xc3\x28"}'))
    else:
        batch.add(frame(b""))


FRAMINGS: dict[str, tuple[Callable[[bytes, int], bytes], bool]] = {
    # name: (bytes of a body, whether its request must still be answered)
    "short": (lambda b, k: f"Content-Length: {max(1, len(b) - k)}\r\n\r\n".encode() + b, False),
    "long": (lambda b, k: f"Content-Length: {len(b) + k}\r\n\r\n".encode() + b, True),
    "none": (lambda b, k: b, False),
    "lower": (lambda b, k: frame(b, header="content-length"), True),
    "upper": (lambda b, k: frame(b, header="CONTENT-LENGTH"), True),
    "lf": (lambda b, k: f"Content-Length: {len(b)}\n\n".encode() + b, True),
    "negative": (lambda b, k: f"Content-Length: -{k}\r\n\r\n".encode() + b, False),
    "word": (lambda b, k: b"Content-Length: lots\r\n\r\n" + b, False),
    "padded": (lambda b, k: f"Content-Length: {' ' * k}0{len(b)}\t\r\n\r\n".encode() + b, True),
    "huge": (lambda b, k: b"Content-Length: 100000000000\r\n\r\n" + b, True),
    "2GB": (lambda b, k: f"Content-Length: {2**31 + k}\r\n\r\n".encode() + b, True),
    "junk": (lambda b, k: os.urandom(k).replace(b"\n", b" ") + frame(b), True),
    "type": (
        lambda b, k: f"Content-Type: x\r\nContent-Length: {len(b)}\r\n\r\n".encode() + b,
        True,
    ),
}


@st.composite
def bad_framing(draw: st.DrawFn, batch: Batch, root: Path) -> None:
    msg_id = IDS()
    if draw(st.booleans()):
        body = json.dumps(request(msg_id, "codeslm/stats", {})).encode()
    else:
        body = json.dumps(inline(msg_id, _doc_uris(root)[0], 0, 0)).encode()
    name = draw(st.sampled_from(sorted(FRAMINGS)))
    build, answered = FRAMINGS[name]
    data = build(body, draw(st.integers(1, 40)))
    if draw(st.integers(0, 4)) == 0:  # the same bytes in pieces
        cut = draw(st.integers(0, len(data)))
        batch.add(data[:cut], count=0)
        data = data[cut:]
    batch.add(data, must=msg_id if answered else None, may=None if answered else msg_id)
    batch.sent[msg_id] = f"[{name}] ".encode() + build(body, 0)[:200]


@st.composite
def batches(draw: st.DrawFn, root: Path) -> Batch:
    batch = Batch()
    kinds: list[Callable[[Batch], st.SearchStrategy[None]]] = [
        lambda b: completion_request(b, root),
        lambda b: document_change(b, root),
        lambda b: cancel_storm(b, root),
        envelope,
        bad_json,
        lambda b: bad_framing(b, root),
    ]
    weights = st.sampled_from([0, 0, 1, 1, 1, 2, 3, 3, 3, 4, 4, 5, 5])
    while batch.messages < 48:
        draw(kinds[draw(weights)](batch))
    return batch


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    messages: int = 0
    sent: dict[Any, bytes] = field(default_factory=dict)  # the bytes of each id (to report)
    batches: int = 0
    requests: int = 0
    unanswered: int = 0
    duplicates: int = 0
    deaths: int = 0
    slowest_batch_s: float = 0.0
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawServer, Tally]]:
    srv = RawServer(
        tmp_path_factory.mktemp("fuzz"), env={"CODESLM_LSP_MAX_MESSAGE_BYTES": str(LIMIT)}
    )
    srv.initialize()
    srv.probe_uri = (srv.root / "probe.py").as_uri()  # type: ignore[attr-defined]
    srv.send_json(did_open(srv.probe_uri, PROBE_TEXT))  # type: ignore[attr-defined]
    tally = Tally()
    yield srv, tally
    code = srv.close()
    seconds = time.monotonic() - tally.started
    report = {
        "messages": tally.messages,
        "batches": tally.batches,
        "requests": tally.requests,
        "deaths": tally.deaths,
        "unanswered": tally.unanswered,
        "duplicates": tally.duplicates,
        "peak_rss_mib": round(srv.peak_rss_kb / 1024, 1),
        "seconds": round(seconds, 1),
        "slowest_batch_s": round(tally.slowest_batch_s, 1),
        "exit_code": code,
        "log_tracebacks": srv.log().count("Traceback"),
    }
    print("\nLSP fuzz:", json.dumps(report))
    if os.environ.get("CODESLM_FUZZ_REPORT"):
        Path(os.environ["CODESLM_FUZZ_REPORT"]).write_text(json.dumps(report) + "\n")


def _ours(msg_id: Any) -> bool:
    """An id this client sends: initialize's, a probe's or a generated one."""
    if isinstance(msg_id, str):
        return msg_id.startswith("r")
    return isinstance(msg_id, int) and (msg_id == 1 or msg_id > 1_000_000)


def _check_batch(srv: RawServer, tally: Tally, batch: Batch) -> None:
    start = time.monotonic()
    for data in batch.writes:
        srv.send(data)
    # The probe comes last: its header also ends any body whose length was a lie.
    assert srv.probe(srv.probe_uri, timeout=60) == PROBE_ANSWER, srv.state()  # type: ignore[attr-defined]
    missing = srv.wait_for(batch.must, timeout=60)
    tally.messages += batch.messages + 1
    tally.batches += 1
    tally.slowest_batch_s = max(tally.slowest_batch_s, time.monotonic() - start)
    tally.requests += len(batch.must) + 1
    tally.unanswered += len(missing)
    if srv.proc.poll() is not None:
        tally.deaths += 1
    assert srv.proc.poll() is None, f"the server died{srv.state()}"
    shown = {str(i): batch.sent[i][:300] for i in sorted(missing, key=str)[:3]}
    assert not missing, f"requests never answered: {shown}{srv.state()}"
    for msg_id in batch.must | batch.may:
        count = len(srv.responses.get(msg_id, []))
        tally.duplicates += max(0, count - 1)
        assert count <= 1, f"request {msg_id!r} answered {count} times"
    assert not srv.garbage, f"not a framed message on stdout: {srv.garbage[:1]!r}"


def test_fuzzed_messages_never_kill_or_silence_the_server(fuzz: tuple[RawServer, Tally]) -> None:
    srv, tally = fuzz

    @settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(batches(srv.root))
    def run(batch: Batch) -> None:
        _check_batch(srv, tally, batch)

    run()
    # Only ids this client sent come back (the probes' and the generated ones), or null.
    strays = {i for i in srv.responses if i is not None and not _ours(i)}
    assert not strays, f"answers to ids never sent: {sorted(map(str, strays))[:10]}"
    assert "Traceback" not in srv.log(), srv.log()[-4000:]
    if BATCHES >= 210:
        assert tally.messages >= MIN_MESSAGES, tally


REAL_DOC = "def average(values):\n    total = sum(values)\n    return \n"


@pytest.mark.model
def test_the_real_model_server_survives_malformed_input(tmp_path: Path, model_path: Path) -> None:
    """The same hostile bytes against the default backend and model: still a real answer."""
    srv = RawServer(
        tmp_path,
        env={
            "CODESLM_BACKEND": "llama-cpp",
            "CODESLM_MODEL": str(model_path),
            "CODESLM_DAEMON_ENABLED": "0",
            "CODESLM_COMPLETION_MAX_TOKENS": "24",
        },
    )
    try:
        srv.initialize()
        uri = (srv.root / "stats.py").as_uri()
        srv.send_json(did_open(uri, REAL_DOC))
        ids = [srv.new_id() for _ in range(4)]
        srv.send(
            b"Content-Length: 100000000000\r\n\r\n"
            + json.dumps(request(ids[0], "codeslm/stats", {})).encode()
        )
        srv.send_json({"jsonrpc": "2.0", "id": ids[1], "method": None})
        head = json.dumps(request(ids[2], "codeslm/stats"))[:-1]
        srv.send(frame((head + ', "params": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()))
        srv.send(frame(json.dumps(inline(ids[3], uri, 2, 11)).encode(), header="content-length"))
        assert not srv.wait_for(set(ids), timeout=600), srv.state()
        assert all(len(srv.responses[i]) == 1 for i in ids)
        items = srv.responses[ids[3]][0]["result"]["items"]
        assert items and items[0]["insertText"].strip(), items
        assert items[0]["range"]["end"] == {"line": 2, "character": 11}
        assert srv.proc.poll() is None and "Traceback" not in srv.log()
    finally:
        srv.close()
