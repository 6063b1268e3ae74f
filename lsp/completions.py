"""``textDocument/inlineCompletion`` (ghost text) and ``textDocument/completion`` (menu fallback).

Both resolve the request to a core document and cursor, run the completion through the
scheduler (debounce for automatic requests, superseding per document, cancellation) and turn
core completions back into protocol items:

- inline items replace the cursor line's text before the cursor (``range`` from the line
  start), so a client keeps an item valid while the user types into it or backspaces;
- menu items carry a single-line ``textEdit`` from the start of the word at the cursor (the
  prefix clients filter by) whose text may span lines, with ``isIncomplete`` so the client asks
  again as the user types.

An automatic trigger gets one candidate (:func:`_options`); an explicit one (Invoked) up to
``lsp.candidates_invoked``. Bad requests (unopened document, position outside it, refused or
disabled document, backend failure) get an empty answer and a log line.

Every answer with items is recorded as one shown suggestion in the local accept statistics
(:mod:`codeslm.stats`, off with ``lsp.accept_stats = false``), and each item carries the
``codeslm.accepted`` command, which the editor runs when the item is accepted. Clients that
report partial accepts (a word, a line) call ``codeslm.partialAccept`` with
``{id, acceptedLength}``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from codeslm import stats
from codeslm.completion.request import CompletionOptions, Cursor
from codeslm.completion.scheduler import Superseded
from codeslm.config import LspConfig
from codeslm.errors import CodeslmError
from codeslm.types import Completion, Document, Position

from .convert import InvalidPosition, LineIndex
from .documents import OpenDocument
from .server import CodeslmServer
from .settings import language_enabled

log = logging.getLogger(__name__)

TRIGGER_CHARACTERS = [".", "(", "[", "{", ",", "="]
ACCEPTED = "codeslm.accepted"
PARTIAL_ACCEPT = "codeslm.partialAccept"
_WORD_END = re.compile(r"[\w$]*\Z")
_LABEL_MAX = 80


@dataclass(frozen=True, slots=True)
class Target:
    """A request resolved against the open document."""

    doc: OpenDocument
    index: LineIndex
    document: Document
    position: Position  # core position of the cursor
    offset: int

    @property
    def cursor(self) -> Cursor:
        """The core cursor (position and offset, both computed once by :func:`resolve`)."""
        return Cursor(self.position, self.offset)


def resolve(ls: CodeslmServer, uri: str, position: lsp.Position, method: str) -> Target | None:
    """The document and cursor of a request, or None (logged) when it cannot be served."""
    doc = ls.documents.get(uri)
    if doc is None:
        log.warning("%s for a document that is not open: %s", method, uri)
        return None
    if doc.refused is not None:
        log.info("%s refused for %s: %s", method, uri, doc.refused)
        return None
    if not language_enabled(doc.language, ls.services.config.lsp.disabled_languages):
        log.debug("%s: completions are disabled for %s", method, doc.language)
        return None
    index = doc.index(ls.documents.encoding)
    try:
        offset = index.offset(position)
    except InvalidPosition as exc:
        log.warning("%s at an invalid position in %s: %s", method, uri, exc)
        return None
    cursor = Cursor.at_offset(doc.text, offset)
    return Target(doc, index, doc.core(), cursor.position, offset)


def _options(config: LspConfig, *, automatic: bool) -> CompletionOptions:
    """A request's options from the ``[lsp]`` settings. While typing, a rejected answer shows
    nothing rather than make the user wait for a second generation (``automatic_retries``) and
    a long one is shown early (``show_within_ms``); an explicit request waits for both."""
    early = config.show_within_ms / 1000 if automatic and config.show_within_ms > 0 else None
    retries = config.automatic_retries if automatic else None
    return CompletionOptions(retries=retries, follow=config.follow_up, show_within_s=early)


async def complete(
    ls: CodeslmServer,
    key: str,
    document: Document,
    at: Position | Cursor,
    *,
    automatic: bool,
    n: int,
) -> list[Completion] | Superseded:
    """Completions through the scheduler: :class:`Superseded` when a newer request for the
    document replaced this one, [] on failure."""
    cursor = at if isinstance(at, Cursor) else Cursor.at(document.text, at)
    stats = ls.scheduler.stats
    stats.requests += 1
    if automatic:
        stats.automatic += 1
    else:
        stats.invoked += 1
    config = ls.services.config
    debounce = 0.0
    if automatic and not ls.services.typed_ahead(document, cursor):
        debounce = ls.scheduler.rhythm.debounce(
            key, config.lsp.debounce_ms / 1000.0, config.lsp.debounce_max_ms / 1000.0
        )
    started = time.perf_counter()

    options = _options(config.lsp, automatic=automatic)

    async def work() -> list[Completion]:
        return await ls.services.complete(document, cursor, n=n, options=options,
                                          automatic=automatic)

    try:
        result = await ls.scheduler.run(key, work, debounce_s=debounce)
    except CodeslmError as exc:
        stats.errors += 1
        log.warning("completion failed: %s", exc)
        ls.status.error(exc.message)
        return []
    except Exception:  # a bug must cost one completion, not the server
        stats.errors += 1
        log.exception("completion crashed")
        return []
    if isinstance(result, Superseded):
        return result
    stats.record_latency_ms((time.perf_counter() - started) * 1000.0)
    if not result:
        stats.empty += 1
        return result
    stats.served += 1
    if all(c.cached for c in result):
        stats.cache_hits += 1
    else:
        first = next(c for c in result if not c.cached)
        ls.status.observe(first.latency_s, config.completion.latency_budget_ms)
    return result


def _replaced_end(target: Target, completion: Completion, default: lsp.Position) -> lsp.Position:
    """Where the item's range ends: the cursor, or further on the same line when the core
    completion replaces text after the cursor (ranges must stay on one line)."""
    end = completion.range.end
    if end == target.position or end.line != target.position.line:
        return default
    try:
        return target.index.from_core(end)
    except Exception:  # an end outside the text: keep the insertion
        return default


def _with_selected(
    target: Target, selected: lsp.SelectedCompletionInfo
) -> tuple[Document, Cursor, int, int] | None:
    """The document as if the editor's selected menu item were inserted, the cursor after it,
    and the offsets the item replaces."""
    try:
        start, end = target.index.range_offsets(selected.range)
    except InvalidPosition:
        return None
    text = target.doc.text
    virtual = text[:start] + selected.text + text[end:]
    cursor = start + len(selected.text)
    doc = Document(virtual, target.document.path, target.document.language)
    return doc, Cursor.at_offset(virtual, cursor), start, end


def _record_shown(
    ls: CodeslmServer,
    recorder: stats.Recorder,
    surface: str,
    target: Target,
    completions: list[Completion],
    started: float,
) -> lsp.Command | None:
    """Record an answer as one shown suggestion; the accept command its items carry."""
    config = ls.services.config
    if not completions or not config.lsp.accept_stats or not recorder.enabled:
        return None
    sid = recorder.shown(
        surface=surface,
        language=target.document.language or "",
        model=config.model,
        backend=config.backend,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        chars=len(completions[0].text),
        cached=all(c.cached for c in completions),
    )
    return lsp.Command(
        title="codeslm: suggestion accepted", command=ACCEPTED, arguments=[{"id": sid}]
    )


def _accept_args(
    command: str, args: tuple[object, ...], *, partial: bool
) -> tuple[str, int | None]:
    """The suggestion id (and accepted length) of an accept command; InvalidParams if bad."""
    raw = args[0] if len(args) == 1 else None
    sid = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(sid, str) or not sid:
        raise JsonRpcInvalidParams(
            f"{command} takes one object argument {{id" + (", acceptedLength}" if partial else "}")
        )
    if not partial:
        return sid, None
    length = raw.get("acceptedLength") if isinstance(raw, dict) else None
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise JsonRpcInvalidParams(f"{command}: 'acceptedLength' must be an integer >= 0")
    return sid, length


def _accept(
    ls: CodeslmServer,
    recorder: stats.Recorder,
    command: str,
    args: tuple[object, ...],
    *,
    partial: bool,
) -> dict[str, bool]:
    sid, length = _accept_args(command, args, partial=partial)
    if not ls.services.config.lsp.accept_stats:
        return {"recorded": False}
    recorded = recorder.accepted(sid, chars=length, partial=partial)
    if not recorded:
        log.info("%s for a suggestion this server does not know (%s)", command, sid)
    return {"recorded": recorded}


async def inline_completion(
    ls: CodeslmServer, params: lsp.InlineCompletionParams, recorder: stats.Recorder
) -> lsp.InlineCompletionList | None:
    started = time.perf_counter()
    uri = params.text_document.uri
    target = resolve(ls, uri, params.position, "inlineCompletion")
    if target is None:
        return lsp.InlineCompletionList(items=[])
    context = params.context
    automatic = context is None or (
        context.trigger_kind == lsp.InlineCompletionTriggerKind.Automatic
    )
    n = 1 if automatic else max(1, ls.services.config.lsp.candidates_invoked)
    document, cursor = target.document, target.cursor
    selected = context.selected_completion_info if context is not None else None
    replace_from = replace_to = None
    if selected is not None:
        virtual = _with_selected(target, selected)
        if virtual is None:
            return lsp.InlineCompletionList(items=[])
        document, cursor, replace_from, replace_to = virtual
    completions = await complete(ls, uri, document, cursor, automatic=automatic, n=n)
    if isinstance(completions, Superseded):
        return None  # superseded by a newer request: an empty answer, not an error
    items: list[lsp.InlineCompletionItem] = []
    text = target.doc.text
    if selected is not None and replace_from is not None and replace_to is not None:
        rng = lsp.Range(
            start=target.index.position(replace_from), end=target.index.position(replace_to)
        )
        lead = selected.text
    else:
        line_start = text.rfind("\n", 0, target.offset) + 1
        line_start = max(line_start, text.rfind("\r", 0, target.offset) + 1)
        rng = lsp.Range(start=target.index.position(line_start), end=params.position)
        lead = text[line_start : target.offset]
    command = _record_shown(ls, recorder, "inline", target, completions, started)
    for completion in completions:
        # With a selected menu item the completion is about the virtual document: its
        # range is the selected item's.
        end = rng.end if selected is not None else _replaced_end(target, completion, rng.end)
        items.append(
            lsp.InlineCompletionItem(
                insert_text=lead + completion.text,
                range=lsp.Range(start=rng.start, end=end),
                command=command,
            )
        )
    return lsp.InlineCompletionList(items=items)


async def menu_completion(
    ls: CodeslmServer, params: lsp.CompletionParams, recorder: stats.Recorder
) -> lsp.CompletionList | None:
    started = time.perf_counter()
    uri = params.text_document.uri
    empty = lsp.CompletionList(is_incomplete=True, items=[])
    target = resolve(ls, uri, params.position, "completion")
    if target is None:
        return empty
    context = params.context
    # Typing-driven requests are debounced; an explicit Invoked request is not.
    automatic = context is not None and context.trigger_kind in (
        lsp.CompletionTriggerKind.TriggerCharacter,
        lsp.CompletionTriggerKind.TriggerForIncompleteCompletions,
    )
    completions = await complete(ls, uri, target.document, target.cursor, automatic=automatic, n=1)
    if isinstance(completions, Superseded):
        return empty
    text = target.doc.text
    line_start = text.rfind("\n", 0, target.offset) + 1
    match = _WORD_END.search(text, line_start, target.offset)
    word_start = match.start() if match else target.offset
    word = text[word_start : target.offset]
    rng = lsp.Range(
        start=target.index.position(word_start),
        end=_replaced_end(target, completions[0], params.position)
        if completions
        else params.position,
    )
    command = _record_shown(ls, recorder, "menu", target, completions, started)
    texts: list[str] = []
    for c in completions:
        texts.append(c.text)
        first = c.text.lstrip("\n").split("\n", 1)[0]
        if "\n" in c.text.strip("\n") and first.strip() and first not in texts:
            texts.append(first)  # the first line alone, for who wants less
    items = [
        _menu_item(i, word + body, body, target.document.language, rng, command)
        for i, body in enumerate(texts)
    ]
    return lsp.CompletionList(is_incomplete=True, items=items)


def _menu_item(
    i: int,
    new_text: str,
    body: str,
    language: str | None,
    rng: lsp.Range,
    command: lsp.Command | None,
) -> lsp.CompletionItem:
    """The ``i``-th menu item: ``new_text`` (the typed word and the completion ``body``)
    replacing ``rng``, labelled by its first line."""
    label = new_text.strip().split("\n", 1)[0]
    if len(label) > _LABEL_MAX:
        label = label[: _LABEL_MAX - 1] + "…"
    lines = body.strip("\n").count("\n") + 1
    return lsp.CompletionItem(
        label=label,
        kind=lsp.CompletionItemKind.Text,
        detail=f"codeslm ({lines} lines)" if lines > 1 else "codeslm",
        documentation=lsp.MarkupContent(
            kind=lsp.MarkupKind.Markdown,
            value=f"```{language or ''}\n{new_text}\n```",
        ),
        sort_text=f"{i:04d}",
        filter_text=new_text,
        insert_text=new_text,
        insert_text_format=lsp.InsertTextFormat.PlainText,
        text_edit=lsp.TextEdit(range=rng, new_text=new_text),
        preselect=i == 0,
        command=command,
    )


def register(server: CodeslmServer) -> None:
    """Register the completion handlers and the accept commands on ``server``."""
    recorder = stats.Recorder()

    @server.command(ACCEPTED)
    def accepted(ls: CodeslmServer, *args: object) -> dict[str, bool]:
        return _accept(ls, recorder, ACCEPTED, args, partial=False)

    @server.command(PARTIAL_ACCEPT)
    def partial_accept(ls: CodeslmServer, *args: object) -> dict[str, bool]:
        return _accept(ls, recorder, PARTIAL_ACCEPT, args, partial=True)

    @server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
    async def inline(
        ls: CodeslmServer, params: lsp.InlineCompletionParams
    ) -> lsp.InlineCompletionList | None:
        return await inline_completion(ls, params, recorder)

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=False),
    )
    async def completion(
        ls: CodeslmServer, params: lsp.CompletionParams
    ) -> lsp.CompletionList | None:
        return await menu_completion(ls, params, recorder)
