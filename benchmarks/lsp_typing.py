"""Replay a recorded typing session against ``codeslm lsp`` on the real model.

The session (``benchmarks/data/lsp_typing_session.json``) is a real source file of this
repository with some function bodies removed, and the keystrokes that type them back with
their timing: every character, auto-indent after Enter (as editors do), occasional typos
corrected with backspace, and pauses. ``record`` makes it from a file with a seeded timing
model (inter-key intervals log-normal around 165 ms, longer after punctuation, a thinking pause
after each line, rare long pauses); ``replay`` plays it against a real server in real time.

The replaying client behaves like VS Code: after every keystroke it sends ``didChange``
(incremental, UTF-16 positions) and an automatic ``textDocument/inlineCompletion`` request,
and cancels its previous request (``$/cancelRequest``) if it is still open. Like the shipped
VS Code extension it also sends ``codeslm/warm`` when the cursor has rested 800 ms
(``--editor-warm-ms``; 0: never) at a place more than 3 lines from the last one it warmed; the
session notes when the cursor moved to each function (``moves``). A suggestion is *shown* when
a non-empty answer arrives before the next keystroke. Reported:

- keystroke -> shown suggestion latency p50/p95 (and how many keystrokes and pauses got one),
  and the slowest model-made suggestions with their line (and whether a move came before);
- suggestions matching what was typed next (their first 8 characters), and the characters of
  those that agree with it (what accepting them would have saved, at most 60 each);
- requests sent, cancelled by the client, and the server's own counts (debounced without model
  work, cancelled during the model call, served, served from the engine's cache);
- CPU seconds the server spent on model calls that were cancelled, on served ones, and in
  total; peak server RSS; the machine and git commit.

    python benchmarks/lsp_typing.py record --source codeslm/textedit.py
    flock /tmp/codeslm-heavy.lock python benchmarks/lsp_typing.py replay [--model NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from codeslm.lsp.convert import LineIndex  # noqa: E402
from common import git_commit, machine, percentile  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

SESSION = HERE / "data" / "lsp_typing_session.json"


# -- recording ----------------------------------------------------------------------------


def _lognormal(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma))))


def _bodies(text: str, names: list[str]) -> list[tuple[int, int]]:
    """(start, end) offsets of the bodies (after the signature line) of functions ``names``."""
    spans = []
    for name in names:
        match = re.search(rf"^def {re.escape(name)}\(.*?\) -> .*?:\n", text, re.M | re.S)
        if match is None:
            raise SystemExit(f"no function {name} in the source")
        start = match.end()
        following = re.search(r"^\S", text[start:], re.M)
        end = start + following.start() if following else len(text)
        body = text[start:end].rstrip("\n") + "\n"
        spans.append((start, start + len(body)))
    return spans


def record(source: Path, names: list[str], seed: int) -> dict[str, Any]:
    """Make a session: the file with ``names``' bodies removed, and keystrokes typing them.

    Each body is typed from the end of its ``def`` line: Enter (the editor inserts the newline
    and the indentation), the line's characters, Enter, and so on. Earlier bodies are typed
    back first, so a body's insertion offset is its offset in the original file.
    """
    rng = random.Random(seed)
    text = source.read_text()
    spans = sorted(_bodies(text, names))  # typed in file order (offsets stay valid)
    initial = text
    for start, end in reversed(spans):
        initial = initial[:start] + initial[end:]
    events: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []  # when the cursor arrived at each body, and where
    t = 1.0

    def key(insert: str = "", delete: int = 0) -> None:
        events.append({"t": round(t, 3), "offset": cursor, "insert": insert, "delete": delete})

    for start, end in spans:
        cursor = start - 1  # the end of the def line, before its newline
        t += _lognormal(rng, 1.5, 0.4, 0.8, 4.0)  # the user moves to the next function
        moves.append({"t": round(t, 3), "offset": cursor})
        for line in text[start:end].split("\n")[:-1]:
            indent = line[: len(line) - len(line.lstrip(" "))] if line.strip() else ""
            t += _lognormal(rng, 0.9, 0.6, 0.3, 4.0)  # thinking at the start of a line
            key("\n" + indent)
            cursor += 1 + len(indent)
            for ch in line[len(indent):]:
                if rng.random() < 0.02 and ch.isalpha():  # a typo, noticed and corrected
                    t += _lognormal(rng, 0.165, 0.45, 0.045, 0.9)
                    key(rng.choice("asdfghjkl"))
                    cursor += 1
                    t += _lognormal(rng, 0.35, 0.4, 0.15, 1.2)
                    key(delete=1)
                    cursor -= 1
                gap = _lognormal(rng, 0.165, 0.45, 0.045, 0.9)
                if ch in " .,(:=":
                    gap += _lognormal(rng, 0.08, 0.6, 0.0, 0.6)
                if rng.random() < 0.03:
                    gap += _lognormal(rng, 2.0, 0.5, 0.8, 6.0)  # thinking mid-line
                t += gap
                key(ch)
                cursor += 1
    rebuilt = initial
    for e in events:  # the keystrokes must rebuild the original file exactly
        rebuilt = rebuilt[: e["offset"] - e["delete"]] + e["insert"] + rebuilt[e["offset"]:]
    if rebuilt != text:
        at = next((i for i, (a, b) in enumerate(zip(rebuilt, text, strict=False)) if a != b),
                  min(len(rebuilt), len(text)))
        raise SystemExit("internal error: the recorded keystrokes do not rebuild the source at "
                         f"{at}: {rebuilt[at - 40:at + 40]!r} vs {text[at - 40:at + 40]!r}")
    return {
        "source": str(source.relative_to(REPO)) if source.is_relative_to(REPO) else str(source),
        "language": "python",
        "functions": names,
        "seed": seed,
        "timing_model": ("inter-key log-normal median 165 ms (sigma 0.45, 45-900 ms); +~80 ms "
                         "after space/punctuation; 3% thinking pauses of ~2 s; ~0.9 s at the "
                         "start of each line; 2% typos fixed with backspace after ~350 ms; "
                         "editor auto-indent on Enter"),
        "initial_text": initial,
        "events": events,
        "moves": moves,
    }


# -- replaying ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to the request sent after one keystroke."""

    sent: float
    next_key: float  # when the following keystroke came (inf for the last)
    lead: str = ""  # the line's text before the cursor (items repeat it)
    line: int = 0  # the cursor's line
    after_move: bool = False  # the first keystroke after the cursor moved to a function
    answered: float | None = None
    text: str | None = None
    cancelled: bool = False
    error: str | None = None


@dataclass
class Replay:
    outcomes: list[Outcome] = field(default_factory=list)
    typed_next: list[str] = field(default_factory=list)
    warm_sent: int = 0  # codeslm/warm notifications sent


async def replay(session: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update(NO_COLOR="1")
    env.update(dict(item.split("=", 1) for item in args.env or []))
    if args.home:
        env["CODESLM_HOME"] = args.home
    server_args = ["-m", "codeslm", "lsp"]
    if args.server_log:
        server_args += ["--log-file", args.server_log]
    if args.model:
        server_args += ["--model", args.model]
    if args.backend:
        server_args += ["--backend", args.backend]
    for url in args.url or []:
        server_args += ["--url", url]
    client = LanguageClient("lsp-typing-bench", "1")
    await client.start_io(sys.executable, *server_args, env=env)
    statuses: list[dict[str, Any]] = []
    client.feature("codeslm/status")(lambda params: statuses.append(params))
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / Path(session["source"]).name
    path.write_text(session["initial_text"])
    uri = path.as_uri()
    lsp_settings: dict[str, int] = {}
    if args.debounce_ms is not None:
        lsp_settings["debounce_ms"] = args.debounce_ms
    if args.debounce_max_ms is not None:
        lsp_settings["debounce_max_ms"] = args.debounce_max_ms
    settings = {"lsp": lsp_settings} if lsp_settings else {}
    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(text_document=lsp.TextDocumentClientCapabilities(
            inline_completion=lsp.InlineCompletionClientCapabilities())),
        root_uri=workdir.as_uri(), process_id=os.getpid(),
        workspace_folders=[lsp.WorkspaceFolder(uri=workdir.as_uri(), name=workdir.name)],
        initialization_options=settings))
    client.initialized(lsp.InitializedParams())
    text = session["initial_text"]
    final = text
    for e in session["events"]:
        final = final[: e["offset"] - e["delete"]] + e["insert"] + final[e["offset"]:]
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id=session["language"], version=1, text=text)))
    # Wait for the model to load, so the replay measures typing, not start-up.
    deadline = time.monotonic() + 300
    while not any(getattr(s, "state", None) in ("ready", "slow") for s in statuses):
        failed = [s for s in statuses if getattr(s, "state", None) == "error"]
        if failed or time.monotonic() > deadline:
            reason = failed[0].message if failed else "it did not become ready in 300 s"
            await client.stop()
            raise SystemExit(f"the server cannot serve: {reason}")
        await asyncio.sleep(0.1)
    loaded = time.monotonic()
    events = session["events"][: args.limit] if args.limit else session["events"]
    result = Replay()
    start = time.monotonic() + 0.5
    t0 = events[0]["t"]
    last_t = events[-1]["t"]
    # Keystrokes and cursor moves in time order; a move sends nothing but may start a warm-up.
    timeline = sorted([(e["t"], 1, e) for e in events]
                      + [(m["t"], 0, m) for m in session.get("moves", []) if m["t"] <= last_t],
                      key=lambda item: (item[0], item[1]))
    pending: tuple[Any, Outcome] | None = None
    version = 1
    server_pid = client._server.pid if client._server else None  # type: ignore[attr-defined]
    rest_s = args.editor_warm_ms / 1000
    warmed: int | None = None  # the line last sent with codeslm/warm (one document)
    moved = False
    cursor = events[0]["offset"]
    upcoming = [e["t"] for e in events]
    key_index = 0
    for n, (t, is_key, event) in enumerate(timeline):
        due = start + (t - t0)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if not is_key:
            cursor, moved = event["offset"], True
        else:
            if pending is not None and not pending[0].done():
                pending[1].cancelled = True
                client.cancel_request(lsp.CancelParams(id=pending[0].msg_id))
            index = LineIndex(text)
            begin = index.position(event["offset"] - event["delete"])
            end = index.position(event["offset"])
            text = (text[: event["offset"] - event["delete"]] + event["insert"]
                    + text[event["offset"]:])
            version += 1
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(start=begin, end=end), text=event["insert"])]))
            cursor = event["offset"] - event["delete"] + len(event["insert"])
            position = LineIndex(text).position(cursor)
            key_index += 1
            next_t = upcoming[key_index] if key_index < len(upcoming) else math.inf
            outcome = Outcome(sent=time.monotonic(), next_key=start + (next_t - t0),
                              line=position.line, after_move=moved)
            moved = False
            result.outcomes.append(outcome)
            outcome.lead = text[text.rfind("\n", 0, cursor) + 1: cursor]
            # What the user ends up with after the cursor: the final file from here on (the
            # text before the cursor is already final, except right after a typo).
            result.typed_next.append(final[cursor: cursor + 60]
                                     if text[:cursor] == final[:cursor] else "")
            future = _request(client, uri, position, outcome)
            pending = (future, outcome)
        # The editor's rest timer: the cursor stays put until the next keystroke or move.
        following = timeline[n + 1][0] if n + 1 < len(timeline) else math.inf
        if rest_s > 0 and following - t >= rest_s:
            await asyncio.sleep(max(0.0, start + (t + rest_s - t0) - time.monotonic()))
            rest = LineIndex(text).position(cursor)
            if warmed is None or abs(rest.line - warmed) > 3:
                warmed = rest.line
                result.warm_sent += 1
                client.protocol.notify("codeslm/warm", {
                    "textDocument": {"uri": uri},
                    "position": {"line": rest.line, "character": rest.character}})
    if pending is not None:
        with contextlib.suppress(Exception):  # the last answer, if it comes at all
            await asyncio.wait_for(asyncio.shield(pending[0].task), 120)
    stats = _plain(await client.protocol.send_request_async("codeslm/stats", {}))
    rss = _peak_rss_kib(server_pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return _report(session, events, result, stats, rss, loaded, args)


class _Future:
    """An in-flight inline completion request and its id (for $/cancelRequest)."""

    def __init__(self, task: asyncio.Task[Any], msg_id: str) -> None:
        self.task, self.msg_id = task, msg_id

    def done(self) -> bool:
        return self.task.done()

    def __await__(self) -> Any:
        return self.task.__await__()


_ids = iter(range(10**9))


def _request(client: LanguageClient, uri: str, position: lsp.Position,
             outcome: Outcome) -> _Future:
    msg_id = f"bench-{next(_ids)}"
    params = lsp.InlineCompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=position,
        context=lsp.InlineCompletionContext(
            trigger_kind=lsp.InlineCompletionTriggerKind.Automatic))
    future = client.protocol.send_request_async(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, params,
                                                msg_id=msg_id)

    async def wait() -> None:
        try:
            answer = await future
        except JsonRpcException as exc:
            outcome.error = exc.message
            return
        outcome.answered = time.monotonic()
        items = answer.items if answer is not None else []
        if items:
            first = items[0].insert_text
            outcome.text = first if isinstance(first, str) else first.value

    return _Future(asyncio.ensure_future(wait()), msg_id)


def _plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _peak_rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _report(session: dict[str, Any], events: list[dict[str, Any]], result: Replay,
            stats: dict[str, Any], rss_kib: int | None, loaded: float,
            args: argparse.Namespace) -> dict[str, Any]:
    shown: list[float] = []
    matched = matched_chars = 0
    pauses = shown_in_pause = 0
    for outcome, later in zip(result.outcomes, result.typed_next, strict=True):
        gap = outcome.next_key - outcome.sent
        if gap >= 0.6:
            pauses += 1
        if outcome.text and outcome.answered is not None and outcome.answered <= outcome.next_key:
            shown.append(outcome.answered - outcome.sent)
            if gap >= 0.6:
                shown_in_pause += 1
            # The suggestion is what the user typed next: its first 8 characters (all of it
            # when shorter) come next in the final file. A user accepting it saves keystrokes.
            suggested = outcome.text[len(outcome.lead):] if outcome.text.startswith(
                outcome.lead) else ""
            want = suggested.rstrip()[:8]
            if want.strip() and later.startswith(want):
                matched += 1
            # How much of it the user could have taken: its characters that agree with what
            # was typed next (at most 60: what is kept of the typing).
            pairs = zip(suggested, later, strict=False)
            agreed = next((i for i, (a, b) in enumerate(pairs) if a != b),
                          min(len(suggested), len(later)))
            matched_chars += agreed if want.strip() and later.startswith(want) else 0
    ms = [s * 1000 for s in shown]
    slowest = sorted(
        ({"ms": round((o.answered - o.sent) * 1000), "line": o.line, "after_move": o.after_move,
          "lead": o.lead, "shown": o.text}
         for o in result.outcomes
         if o.text and o.answered is not None and o.answered <= o.next_key),
        key=lambda item: -item["ms"])[:6]
    # Answers under 30 ms come from the engine's caches (a model call takes far longer here).
    generated = [m for m in ms if m >= 30.0]
    cancelled_by_client = sum(o.cancelled for o in result.outcomes)
    report = {
        "commit": git_commit(),
        "machine": machine(),
        "model": args.model or "default (the config's)",
        "backend": args.backend or "default (llama-cpp)",
        "settings": {"debounce_ms": args.debounce_ms, "debounce_max_ms": args.debounce_max_ms,
                     "editor_warm_ms": args.editor_warm_ms},
        "warm_sent": result.warm_sent,
        "slowest_shown": slowest,
        "session": {"source": session["source"], "keystrokes": len(events),
                    "duration_s": round(events[-1]["t"] - events[0]["t"], 1)},
        "requests_sent": len(result.outcomes),
        "cancelled_by_client": cancelled_by_client,
        "shown": len(shown),
        "shown_latency_ms": {"p50": round(percentile(ms, 50), 1) if ms else None,
                             "p95": round(percentile(ms, 95), 1) if ms else None},
        "shown_from_the_model": len(generated),
        "shown_from_the_model_latency_ms": {
            "p50": round(percentile(generated, 50), 1) if generated else None,
            "p95": round(percentile(generated, 95), 1) if generated else None},
        "pauses_over_600ms": pauses,
        "pauses_with_a_suggestion": shown_in_pause,
        "suggestions_matching_next_typing": matched,
        "matching_characters": matched_chars,
        "server": stats,
        "server_peak_rss_mib": round(rss_kib / 1024, 1) if rss_kib else None,
        "wall_s_after_load": round(time.monotonic() - loaded, 1),
    }
    return report


def _print(report: dict[str, Any]) -> None:
    s = report["server"]
    lat = report["shown_latency_ms"]
    print(f"commit {report['commit']}  model {report['model']}  lsp settings "
          f"{report['settings']}")
    print(f"machine {report['machine']}")
    print(f"session {report['session']['source']}: {report['session']['keystrokes']} keystrokes "
          f"over {report['session']['duration_s']} s")
    print(f"keystroke -> shown suggestion: p50 {lat['p50']} ms, p95 {lat['p95']} ms "
          f"({report['shown']} shown of {report['requests_sent']} keystrokes; "
          f"{report['pauses_with_a_suggestion']} of {report['pauses_over_600ms']} pauses >= 0.6 s "
          f"got one; {report['suggestions_matching_next_typing']} matched what was typed next, "
          f"with {report.get('matching_characters')} characters that agree with it)")
    gen = report["shown_from_the_model_latency_ms"]
    print(f"  of which generated by the model (>= 30 ms): {report['shown_from_the_model']}, "
          f"p50 {gen['p50']} ms, p95 {gen['p95']} ms; the rest came from the engine's caches")
    slow = ", ".join(f"{x['ms']} ms at line {x['line']}" + (" (after a move)" if x["after_move"]
                     else "") for x in report["slowest_shown"])
    print(f"  slowest shown: {slow}; codeslm/warm sent {report['warm_sent']} times")
    print(f"requests: sent {report['requests_sent']}, cancelled by the client "
          f"{report['cancelled_by_client']}; server: debounced {s['debounced']}, cancelled "
          f"during the model call {s['cancelled']}, served {s['served']} (from cache "
          f"{s['cache_hits']}), empty {s['empty']}, errors {s['errors']}; follow-ups made "
          f"{s.get('follow_ups', 0)}, used {s.get('follow_up_hits', 0)}; shown early "
          f"{s.get('shown_early', 0)}, their rest written {s.get('finished_late', 0)}")
    cancelled = round(s["cpu_cancelled_s"] + s.get("cpu_cancelled_drain_s", 0.0), 1)
    print(f"server CPU: {cancelled} s on cancelled model calls ({s['cpu_cancelled_s']} s until "
          f"the cancel + {s.get('cpu_cancelled_drain_s', 0.0)} s draining after it), "
          f"{s['cpu_served_s']} s on served ones, {s['cpu_unattributed_s']} s elsewhere, "
          f"{s['process_cpu_s']} s in total; peak RSS {report['server_peak_rss_mib']} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    rec = sub.add_parser("record", help="make a session from a source file")
    rec.add_argument("--source", default=str(REPO / "codeslm" / "textedit.py"))
    rec.add_argument("--functions", default="to_text_edits,insertion,apply_offsets,apply_edits")
    rec.add_argument("--seed", type=int, default=4)
    rec.add_argument("--out", default=str(SESSION))
    rep = sub.add_parser("replay", help="replay a session against codeslm lsp")
    rep.add_argument("--session", default=str(SESSION))
    rep.add_argument("--model", help="model name or .gguf path (default: the config's)")
    rep.add_argument("--backend", help="backend (default: the config's, llama-cpp)")
    rep.add_argument("--url", action="append", help="server URL for HTTP backends")
    rep.add_argument("--debounce-ms", type=int, help="override lsp.debounce_ms")
    rep.add_argument("--debounce-max-ms", type=int,
                     help="override lsp.debounce_max_ms (0: a fixed debounce)")
    rep.add_argument("--limit", type=int, help="replay only the first N keystrokes")
    rep.add_argument("--editor-warm-ms", type=int, default=800,
                     help="send codeslm/warm after the cursor rests this long at a new place, "
                          "as the shipped VS Code extension does (800); 0: never")
    rep.add_argument("--env", action="append", metavar="NAME=VALUE",
                     help="environment for the server, e.g. CODESLM_DAEMON_ENABLED=0")
    rep.add_argument("--home", help="CODESLM_HOME for the server (default: the user's)")
    rep.add_argument("--workdir", default="/tmp/codeslm-lsp-typing")
    rep.add_argument("--json", help="also write the report to this file")
    rep.add_argument("--server-log", help="the language server's --log-file (INFO and above)")
    args = parser.parse_args()
    if args.command == "record":
        session = record(Path(args.source).resolve(), args.functions.split(","), args.seed)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(session, indent=1) + "\n")
        print(f"{len(session['events'])} keystrokes over "
              f"{session['events'][-1]['t'] - session['events'][0]['t']:.1f} s -> {args.out}")
        return
    if args.command != "replay":
        parser.print_help()
        return
    session = json.loads(Path(args.session).read_text())
    report = asyncio.run(replay(session, args))
    _print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
