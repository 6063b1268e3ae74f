"""Write a commit message for a change with the model: one call, or map-reduce for big diffs.

Strategy (``auto``): when the scrubbed patches fit the budget they are sent whole. Otherwise,
without a deadline, each file (or group of small files) is summarised in one line (map) and the
message is written from the summaries (reduce); with a deadline (the git hook), the patches are
cut to fit and sent in one call, because several model calls cannot fit in a few seconds on a
CPU. Either way the file list is complete and the notes say what the model did not see.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..backends.base import Backend
from ..config import Config
from ..config.measured_speed import MeasuredSpeed
from ..errors import InputError
from ..templates import load_template
from ..types import ChatMessage, GenerationRequest, Usage
from .budget import Counter, fit, units
from .changes import ChangeSet
from .conventional import normalise, type_for_paths
from .style import CommitStyle

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "full", "truncate", "map-reduce")
_MARGIN = 48  # tokens kept free for the chat template's own markup
_STAT_LINES = 40
_STAT_LINES_HOOK = 12  # in the hook every prompt token is time the user waits
_SUMMARY_TOKENS = 32
# A small model sometimes goes on to repeat the diff after the message.
_MESSAGE_STOPS = ("\ndiff --git", "\n--- a/", "\n@@ ", "\nDiff:", "\ndiff:", "\nFiles changed:")
_FORCED_TYPES = frozenset({"docs", "test", "ci"})  # the paths alone decide these types
_DIFF_LABEL = "Diff:\n"
# Sizing the diff from the time left: a subject line is 10-20 tokens; the margin covers
# writing the message file and leaving the process after the answer.
_TYPICAL_MESSAGE_TOKENS = 24
_DEADLINE_MARGIN_S = 0.5


@dataclass(slots=True)
class MessageResult:
    """A finished commit message and how it was made."""

    message: str
    raw: str
    strategy: str
    notes: list[str] = field(default_factory=list)
    model_calls: int = 0
    prompt_tokens: int = 0
    elapsed_s: float = 0.0
    usage: Usage | None = None  # the accounting of the call that wrote the message


def make_counter(backend: Backend) -> Counter:
    """Token counting with the backend's tokenizer; cheap local counting when it has one."""
    cache: dict[str, int] = {}

    async def count(text: str) -> int:
        if not text:
            return 0
        local = backend.count_tokens_sync(text)
        if local is not None:
            return local
        if len(text) < 200:  # a remote round trip per line would cost more than it is worth
            return max(1, len(text) * 2 // 7)
        if text not in cache:
            cache[text] = await backend.count_tokens(text)
        return cache[text]

    return count


class MessageWriter:
    """Writes commit messages with one backend and config."""

    def __init__(self, backend: Backend, config: Config, *, comment_char: str = "#") -> None:
        self.backend = backend
        self.config = config
        self.comment_char = comment_char
        self.count = make_counter(backend)
        self._calls = 0
        self._prompt_tokens = 0
        self._cut_at_deadline = False
        self._last_usage: Usage | None = None

    async def write(
        self,
        changes: ChangeSet,
        style: CommitStyle,
        *,
        budget: int | None = None,
        strategy: str = "auto",
        deadline: float | None = None,
        speed: MeasuredSpeed | None = None,
    ) -> MessageResult:
        """The message for ``changes``; ``deadline`` is a ``time.monotonic()`` instant.

        With both ``deadline`` and ``speed`` (the served model's measured speed on this
        machine), the diff is also cut to what the time left after loading the model can
        evaluate: a late message is no message, since the hook gives up at its deadline.
        """
        if strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {strategy!r}", hint=f"one of {STRATEGIES}")
        if changes.empty:
            raise InputError("there are no changes to describe", hint="stage changes with git add")
        started = time.perf_counter()
        paths = [f.path for f in changes.all_files()]
        template = load_template("commit_message")
        style_text = style.instructions(paths)
        stat = changes.stat(_STAT_LINES if deadline is None else _STAT_LINES_HOOK)
        notes = list(changes.notes())
        empty = template.render(style=style_text, stat=stat, changes=_DIFF_LABEL)
        budget = await self._diff_budget(empty, budget, deadline, speed, notes)
        used, body = await self._changes_text(changes, budget, strategy, deadline, notes)
        messages = template.render(style=style_text, stat=stat, changes=body)
        raw = await self._generate(
            messages, self.config.git.message_max_tokens, deadline, stop=_MESSAGE_STOPS
        )
        if self._cut_at_deadline:
            notes.append("the model's answer was cut at the time limit; its complete lines kept")
        if _copied_example(raw, messages):
            notes.append(
                "the model described its worked example, not this change; "
                "a plain summary was written instead"
            )
            raw = plain_summary(changes)
        path_type = type_for_paths(paths)
        message = normalise(
            raw,
            fallback_type=path_type or "chore",
            force_type=path_type if path_type in _FORCED_TYPES else None,
            scope=self._scope_hint(style, paths),
            capitalise=style.capitalise,
            comment_char=self.comment_char,
        )
        return MessageResult(
            message,
            raw,
            used,
            notes,
            self._calls,
            self._prompt_tokens,
            time.perf_counter() - started,
            self._last_usage,
        )

    async def _changes_text(
        self,
        changes: ChangeSet,
        budget: int,
        strategy: str,
        deadline: float | None,
        notes: list[str],
    ) -> tuple[str, str]:
        """(the strategy used, the changes block of the prompt) within ``budget`` tokens;
        appends to ``notes`` what was left out and why."""
        fitted = await fit(changes.files, budget, self.count)
        use_map = strategy == "map-reduce" or (strategy == "auto" and deadline is None)
        if fitted.complete or strategy == "full":
            return "full", _changes_block(fitted.text, bool(changes.files))
        if use_map:
            body = await self._summaries(changes, budget, deadline, notes)
            notes.append(
                f"the diff ({fitted.total_tokens} tokens) is over the budget of {budget}:"
                f" written from per-file summaries"
            )
            return "map-reduce", body
        shortened = fitted.cut_files + fitted.dropped_files
        notes.append(
            f"the diff ({fitted.total_tokens} tokens) is over the budget of {budget};"
            f" shortened: {', '.join(shortened[:6])}"
            + (f" and {len(shortened) - 6} more" if len(shortened) > 6 else "")
        )
        return "truncate", _changes_block(fitted.text, True)

    async def _diff_budget(
        self,
        empty: tuple[ChatMessage, ...],
        budget: int | None,
        deadline: float | None,
        speed: MeasuredSpeed | None,
        notes: list[str],
    ) -> int:
        """The diff's tokens: ``budget`` (or the configured one) within the context window
        left by ``empty`` (the prompt without a diff), and within the time left when the speed
        is known (see :meth:`write`)."""
        # First: a local model loads here, in a worker thread, so a deadline can interrupt it.
        info = await self.backend.model_info()
        overhead = await self._prompt_size(empty)
        room = info.context_length - overhead - self.config.git.message_max_tokens - _MARGIN
        if room <= 0:
            raise InputError(f"the file list alone ({overhead} tokens) fills the context window")
        budget = min(budget or self.config.git.max_diff_tokens, room)
        if deadline is None or speed is None:
            return budget
        return await self._within_time(budget, empty[-1], speed, deadline, notes)

    async def _within_time(
        self,
        budget: int,
        turn: ChatMessage,
        speed: MeasuredSpeed,
        deadline: float,
        notes: list[str],
    ) -> int:
        """``budget``, lowered to the diff tokens that can still be evaluated before
        ``deadline``, with a typical message generated after them. Only ``turn`` (the change's
        own message) counts besides the diff: the instruction and worked example before it are
        the same in every commit, and the llama.cpp backends keep their evaluation on disk."""
        fixed = await self._prompt_size((turn,))
        seconds = (deadline - time.monotonic() - _DEADLINE_MARGIN_S
                   - speed.seconds_for(0, _TYPICAL_MESSAGE_TOKENS))
        affordable = max(0, int(seconds * speed.prefill_tps) - fixed)
        if affordable >= budget:
            return budget
        notes.append(
            f"the diff was cut to {affordable} tokens to finish in time "
            f"(this machine evaluates ~{speed.prefill_tps:.0f} prompt tokens/s)"
        )
        return affordable

    @staticmethod
    def _scope_hint(style: CommitStyle, paths: list[str]) -> str | None:
        """A scope to add when the model gave none, only if this history mostly uses scopes."""
        if not style.uses_conventional or sum(style.scopes.values()) * 2 < style.conventional:
            return None
        return style.scope_for(paths)

    async def _summaries(
        self, changes: ChangeSet, budget: int, deadline: float | None, notes: list[str]
    ) -> str:
        template = load_template("commit_summary")
        overhead = await self._prompt_size(template.render(path="", patch=""))
        info = await self.backend.model_info()
        unit_budget = min(budget, info.context_length - overhead - _SUMMARY_TOKENS - _MARGIN)
        pieces = await units(changes.files, unit_budget, self.count)
        limit = max(1, self.config.git.map_max_calls)
        if len(pieces) > limit:
            sizes = [await self.count(p) for _, p in pieces]
            keep = sorted(sorted(range(len(pieces)), key=lambda i: -sizes[i])[:limit])
            skipped = [pieces[i][0] for i in range(len(pieces)) if i not in keep]
            pieces = [pieces[i] for i in keep]
            notes.append(
                f"not summarised (only named): {', '.join(skipped[:6])}"
                + (f" and {len(skipped) - 6} more" if len(skipped) > 6 else "")
            )
        lines: list[str] = []
        for label, patch in pieces:
            if deadline is not None and time.monotonic() > deadline:
                notes.append(f"out of time after {len(lines)} of {len(pieces)} summaries")
                break
            messages = template.render(path=label, patch=patch)
            summary = await self._generate(messages, _SUMMARY_TOKENS, deadline, stop=("\n",))
            summary = summary.strip().strip("\"'`").strip()
            if summary:
                lines.append(f"- {label}: {summary}")
        if not lines:
            return "(the patches were too large to show)"
        return "Summary of the changes, per file:\n" + "\n".join(lines)

    async def _prompt_size(self, messages: tuple[ChatMessage, ...]) -> int:
        return sum([await self.count(m.content) for m in messages]) + 8 * len(messages)

    async def _generate(
        self,
        messages: tuple[ChatMessage, ...],
        max_tokens: int,
        deadline: float | None,
        stop: tuple[str, ...] = (),
    ) -> str:
        request = GenerationRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            stop=stop,
            seed=0,
            keep_head=True,  # the instruction and worked example: the same for every commit
        )
        self._calls += 1
        if deadline is None:
            result = await self.backend.generate(request)
            text, usage = result.text, result.usage
        else:
            cutoff = deadline - _DEADLINE_MARGIN_S
            text, usage, cut = await _answer_by(self.backend, request, cutoff)
            self._cut_at_deadline = self._cut_at_deadline or cut
        if usage.prompt_tokens:
            self._prompt_tokens += usage.prompt_tokens
        self._last_usage = usage
        log.info("commit message call: %s", usage)
        return text


async def _answer_by(
    backend: Backend, request: GenerationRequest, cutoff: float
) -> tuple[str, Usage, bool]:
    """Stream ``request`` until it ends or ``cutoff`` (``time.monotonic()``) comes:
    (text, accounting, whether it was cut). Cut, the complete lines written so far are kept (a
    subject line is a message; a body half written is dropped); TimeoutError when not one line
    is complete. Closing the stream early stops the backend's work on it."""
    parts: list[str] = []
    usage = Usage()
    stream = backend.stream(request)
    try:
        while True:
            remaining = cutoff - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(anext(stream), remaining)
            parts.append(chunk.text)
            usage = chunk.usage or usage
    except StopAsyncIteration:
        return "".join(parts), usage, False
    except TimeoutError:
        text = "".join(parts).lstrip("\n")
        if "\n" not in text:
            raise TimeoutError("no time left for the model") from None
        return text[: text.rindex("\n")], usage, True
    finally:
        close = getattr(stream, "aclose", None)  # an async generator: stop its work now
        if close is not None:
            await close()


_COMMON = frozenset({"their", "with", "from", "that", "this", "into", "when", "them", "each"})


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)}


def _copied_example(answer: str, messages: tuple[ChatMessage, ...]) -> bool:
    """Whether ``answer`` borrows words of the template's worked answer that the real change
    never mentions: a small model with little to go on describes the example instead."""
    examples = [m.content for m in messages if m.role == "assistant"]
    if not examples:
        return False
    real = _words(messages[-1].content)
    borrowed = {w for w in _words(answer) & _words(" ".join(examples)) - _COMMON if w not in real}
    return bool(borrowed)


async def evaluate_head(backend: Backend) -> None:
    """Have ``backend`` evaluate the part of the commit message prompt that every commit shares
    (the instruction and the worked example), as a recurring head: the llama.cpp backends keep
    its evaluation on disk, so the first hook run after installing does not pay for it (~2 s
    for the 1.5B on 2 cores, which the hook's time sizing does not count)."""
    messages = load_template("commit_message").render(style="", stat="", changes="")
    await backend.generate(
        GenerationRequest(messages=messages, max_tokens=1, temperature=0.0, seed=0,
                          keep_head=True)
    )


def plain_summary(changes: ChangeSet) -> str:
    """A subject made from the file list alone (used when the model's answer is unusable)."""
    files = changes.all_files()
    statuses = {f.status for f in files}
    verb = (
        "add"
        if statuses == {"added"}
        else "remove"
        if statuses == {"deleted"}
        else "rename"
        if statuses == {"renamed"}
        else "update"
    )
    if len(files) == 1:
        return f"{verb} {PurePosixPath(files[0].path).name}"
    if len(files) == 2:
        return f"{verb} {PurePosixPath(files[0].path).name} and {PurePosixPath(files[1].path).name}"
    parents = [str(PurePosixPath(f.path).parent) for f in files]
    common = os.path.commonpath(parents) if all(p != "." for p in parents) else ""
    return f"{verb} {len(files)} files" + (f" in {common}" if common else "")


def _changes_block(patches: str, any_sent: bool) -> str:
    if not any_sent:
        return "(no patch text: every changed file is withheld; only the list above is known)"
    if not patches.strip():
        return "(no patch text: the patches did not fit; only the list above is known)"
    return _DIFF_LABEL + patches.rstrip("\n")
