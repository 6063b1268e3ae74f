"""Frozen values that cross the seams between the core, the backends and the surfaces.

Positions in the core are 0-based lines and 0-based *code point* columns (Python ``str``
indices within the line). The CLI converts from 1-based compiler-style positions and the
language server from UTF-16 code units; nothing else in the core knows about either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class Position:
    """A 0-based line and 0-based code point column."""

    line: int
    character: int


@dataclass(frozen=True, slots=True)
class Range:
    """A half-open range ``[start, end)`` of positions."""

    start: Position
    end: Position


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat request; ``role`` is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a backend is asked to generate.

    Exactly one of ``prompt`` (a raw prompt sent verbatim, special tokens such as FIM sentinels
    included) and ``messages`` (a chat, formatted with the model's own chat template) is set.
    Generation stops at ``max_tokens``, at any string of ``stop`` (not included in the output),
    at any token of ``stop_token_ids``, at the model's end-of-generation token, or when the
    consumer stops iterating (cancellation).

    ``first_identifier``, when not empty, lists what the output's leading identifier may be
    (the rest of a member name after ``receiver.``): the output must start with one of them,
    followed by a non-identifier character or the end. A backend that cannot enforce it
    ignores it, so it is a strong hint, not a guarantee.

    ``session`` is an affinity key (for example the repository root) that multi-endpoint
    backends use to keep one repository on one replica; ``cache_key`` groups requests whose
    prompts share a prefix (for example one document), so a backend may supersede the older.

    ``warm`` marks a request made only to fill the backend's prompt cache ahead of the user
    (its output is thrown away): a backend that schedules requests runs it last and cancels it
    for any real request; others simply serve it.

    ``keep_head`` says that the messages before the last one recur across requests and
    processes (a fixed instruction and worked example): a local backend may keep their KV
    cache on disk, so that a model loaded cold skips evaluating them. Others ignore it.
    """

    prompt: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None
    session: str | None = None
    cache_key: str | None = None
    first_identifier: tuple[str, ...] = ()
    warm: bool = False
    keep_head: bool = False

    def __post_init__(self) -> None:
        if (self.prompt is None) == (not self.messages):
            raise ValueError("GenerationRequest needs exactly one of prompt or messages")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")


@dataclass(frozen=True, slots=True)
class Usage:
    """Accounting for one finished generation; fields a backend cannot measure are ``None``."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    time_to_first_token_s: float | None = None
    total_s: float | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of streamed output.

    The last chunk of a stream carries ``finish_reason`` (``stop``, ``length`` or
    ``cancelled``) and ``usage``; its ``text`` may be empty. A backend that knows the prompt's
    accounting before generating may send it first, as a chunk with empty ``text``, no
    ``finish_reason`` and a ``usage`` with only the prompt fields set: a consumer that closes
    the stream early (an early stop) still learns how much of the prompt was reused.
    """

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


class HealthStatus(str, Enum):  # noqa: UP042 - StrEnum would change str()/format() of members
    """Coarse backend state, as shown by ``codeslm doctor`` and the language server status."""

    READY = "ready"
    LOADING = "loading"
    SLOW = "slow"
    DOWN = "down"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """The result of a health check; ``detail`` is one line for humans."""

    status: HealthStatus
    detail: str = ""
    model: str | None = None
    latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a backend knows about the model it serves."""

    name: str
    context_length: int
    path: str | None = None
    train_context_length: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Document:
    """A snapshot of one source file: its text, and its path and language when known.

    ``path`` may be relative or absolute; ``language`` is a tree-sitter language name such as
    ``python`` (``None`` means unknown: treat as plain text).
    """

    text: str
    path: str | None = None
    language: str | None = None


class CompletionMode(str, Enum):  # noqa: UP042 - StrEnum would change str()/format() of members
    """How much a completion may insert."""

    AUTO = "auto"
    SINGLE_LINE = "single-line"
    MULTI_LINE = "multi-line"


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished completion: ``text`` replaces ``range`` of the document.

    ``raw`` is what the model produced before post-processing; ``latency_s`` runs from the
    request to the final text; ``cached`` says the text came from a completion cache.
    """

    text: str
    range: Range
    mode: CompletionMode
    raw: str = ""
    latency_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    cached: bool = False
    finish_reason: str | None = None


__all__ = [
    "BackendHealth",
    "ChatMessage",
    "Chunk",
    "Completion",
    "CompletionMode",
    "Document",
    "GenerationRequest",
    "HealthStatus",
    "ModelInfo",
    "Position",
    "Range",
    "Usage",
]
