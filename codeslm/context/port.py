"""The context port: what the engine and the language server need from a context provider.

This module sits below both the engine (:mod:`codeslm.engine`) and the context builder
(:mod:`codeslm.context`): it holds the values they exchange (:class:`CrossFileContext`), the
provider's contract (:class:`ContextProvider` and its optional :class:`DocumentEvents`), and
the text utilities both sides cut prompts with (:func:`window`, :func:`estimate_tokens`). It
imports nothing from either side, so the context package never leans on the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, overload

from ..fim import ContextFile
from ..types import Document

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class CrossFileContext:
    """Cross-file blocks for one prompt, in the order they should appear (stable first)."""

    files: tuple[ContextFile, ...] = ()
    repo_name: str = ""
    path: str | None = None  # the current file as the blocks name it (relative to the root)
    # What may follow ``receiver.`` at the cursor (every member's rest), when all are known.
    member_names: tuple[str, ...] = ()


class ContextProvider(Protocol):
    """What the engine needs from a context builder: the one required operation.

    A provider may also offer any of the :class:`DocumentEvents` operations; the language
    server's router (:mod:`codeslm.lsp.context`) finds them with :func:`operation`.
    """

    def context_for(
        self, document: Document, offset: int, *, budget_tokens: int, count_tokens: TokenCounter
    ) -> CrossFileContext:
        """Cross-file context for a cursor at ``offset`` of ``document`` within the budget."""
        ...


class DocumentEvents(Protocol):
    """The optional operations of a :class:`ContextProvider`, one per editor event.

    Each is optional on its own (a provider offers the ones it can use); a complete provider,
    such as :class:`codeslm.context.WorkspaceProvider`, satisfies this whole protocol.
    """

    def update_document(self, path: str, text: str) -> None:
        """An open buffer's current text (it overrides the file on disk)."""
        ...

    def remove_document(self, path: str) -> None:
        """The buffer was closed: the file on disk is the truth again."""
        ...

    def file_changed(self, path: str) -> None:
        """A watched file changed (or vanished) on disk; the provider reads it itself."""
        ...

    def note_opened(self, path: str) -> None:
        """The editor opened ``path`` (a hint for ranking)."""
        ...

    def close(self) -> None:
        """Release the provider (it may wait for a background refresh)."""
        ...


PathOperation = Literal["remove_document", "file_changed", "note_opened"]


@overload
def operation(
    provider: object, name: Literal["update_document"]
) -> Callable[[str, str], None] | None: ...
@overload
def operation(provider: object, name: PathOperation) -> Callable[[str], None] | None: ...
@overload
def operation(provider: object, name: Literal["close"]) -> Callable[[], None] | None: ...
def operation(provider: object, name: str) -> Callable[..., None] | None:
    """The optional :class:`DocumentEvents` operation ``name`` of ``provider``, or None.

    The names are the protocol's, checked by the overloads; a provider (or None) that does
    not offer one gets None, and the caller falls back as the event requires.
    """
    function = getattr(provider, name, None)
    return function if callable(function) else None


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for code (about 3.5 characters per token)."""
    return max(1, int(len(text) / 3.5)) if text else 0


def window(text: str, offset: int, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """The prefix and suffix around ``offset``, cut to whole lines within the character limits.

    The cursor's own line is always kept whole on both sides. Both outer ends move in steps,
    so that prompts sent while the user types in one place, or moves a few
    lines, share their beginning and their end, and the backend reuses its KV cache for both
    (the prefix cache, and KV insertion for the text after the cursor):

    - the prefix's first line is found from a cut counted from the start of the text (its
      length stays between 3/4 and all of ``prefix_chars``): typing after it changes nothing;
    - the suffix's last line is found from a cut counted from the *end* of the text (its length
      stays between 1/2 and all of ``suffix_chars``: the suffix is short, and a step crossed
      costs its whole evaluation): typing before it, which shifts every offset after the
      cursor, changes nothing either.
    """
    prefix, suffix = text[:offset], text[offset:]
    if len(prefix) > prefix_chars:
        step = max(1, prefix_chars // 4)
        cut = -(-(len(prefix) - prefix_chars) // step) * step  # rounded up to a step
        line_start = prefix.rfind("\n", 0, len(prefix)) + 1
        newline = prefix.find("\n", cut)
        start = newline + 1 if 0 <= newline < line_start else min(cut, line_start)
        prefix = prefix[start:]
    if len(suffix) > suffix_chars:
        step = max(1, suffix_chars // 2)
        # Characters left out after the window, rounded up to a step: the cut stays at the
        # same text while the text before it changes.
        left_out = -(-(len(suffix) - suffix_chars) // step) * step
        first_newline = suffix.find("\n")
        end = suffix.rfind("\n", 0, len(suffix) - left_out)
        if end <= first_newline:
            end = first_newline if first_newline >= 0 else suffix_chars
        suffix = suffix[: end + 1]
    return prefix, suffix
