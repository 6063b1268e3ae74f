"""What one completion request asks: where (:class:`Cursor`) and how (:class:`CompletionOptions`).

A surface builds the cursor once per request, from whichever form it has (a core position, or
an offset it computed from the protocol's position), and everything downstream (the typed-ahead
probe, the prompt window, the context provider, the typed-ahead memory) reads its offset and
position instead of converting again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..documents import offset_of, position_at
from ..types import Completion, CompletionMode, Position

PartialCallback = Callable[[Completion], None]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A cursor in one document's text: its 0-based position and its string offset (they
    agree; build one with :meth:`at` or :meth:`at_offset`)."""

    position: Position
    offset: int

    @classmethod
    def at(cls, text: str, position: Position) -> Cursor:
        """The cursor at ``position`` of ``text``; InputError when it is outside the text."""
        return cls(position, offset_of(text, position))

    @classmethod
    def at_offset(cls, text: str, offset: int) -> Cursor:
        """The cursor at string ``offset`` of ``text`` (0 <= offset <= len(text))."""
        return cls(position_at(text, offset), offset)


@dataclass(frozen=True, slots=True)
class CompletionOptions:
    """How :meth:`codeslm.engine.CompletionEngine.complete` serves one request.

    - ``mode``: single line, multi-line, or AUTO (decided from the code; ``completion.mode``
      in the config goes first);
    - ``use_context``: ask the context provider for cross-file blocks;
    - ``max_tokens``: the generation limit; None derives it from the config and the deadline;
    - ``use_cache``: consult and fill the typed-ahead cache and the prompt LRU;
    - ``early_stop``: end the stream once the completion is decided (see
      :mod:`codeslm.completion.stopping`); False runs to ``max_tokens`` or a stop token, which
      evaluations use to keep the unprocessed output;
    - ``temperature``: sampling temperature instead of ``completion.temperature`` (sampled
      candidates); a request above 0 is neither cached nor remembered;
    - ``on_partial(completion)``: called once, for a multi-line completion, with its first line
      as soon as that line is complete (``finish_reason == "partial"``);
    - ``retries``: seeded samples tried when post-processing rejects the greedy answer; None
      takes ``completion.retries`` (the language server passes ``lsp.automatic_retries`` for
      suggestions made while the user types);
    - ``follow``: when the user is typing through the completion (a typed-ahead answer),
      complete in the background where finishing it and pressing Enter leads
      (:meth:`codeslm.engine.CompletionEngine.follow`; the language server's ``lsp.follow_up``);
    - ``show_within_s``: when the model is still writing this long after the request started,
      answer with what it has written (a word or whole lines at least) and let the generation
      finish in the background, its whole answer then in the typed-ahead cache; None waits for
      the end (the language server passes ``lsp.show_within_ms`` for suggestions while typing).
    """

    mode: CompletionMode = CompletionMode.AUTO
    use_context: bool = True
    max_tokens: int | None = None
    use_cache: bool = True
    early_stop: bool = True
    temperature: float | None = None
    on_partial: PartialCallback | None = None
    retries: int | None = None
    follow: bool = False
    show_within_s: float | None = None


DEFAULT_OPTIONS = CompletionOptions()
