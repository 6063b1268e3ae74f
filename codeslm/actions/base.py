"""The values every action shares, and :class:`Action`, the base a refactor is written on.

An action is one model-driven change of existing code (add a docstring, write tests, fix a
problem, rewrite by an instruction, a user's own prompt...). It declares what it is called,
when it is offered, and two steps: :meth:`Action.plan` decides the region and the messages
for the model (no model call), :meth:`Action.apply` turns the model's answer into minimal
:class:`FileChange` values. Generating in between is :func:`codeslm.actions.generation.
generate_answer`, shared by every action. Nothing here knows about the language server or
the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ..errors import CodeslmError
from ..redaction import Restorable
from ..textedit import TextEdit
from ..types import ChatMessage, Document, Range

ReadText = Callable[[str], "str | None"]
"""Reads a file by path: its text, or None when it does not exist (open buffers first)."""


class UnusableAnswer(CodeslmError):
    """The model answered, but nothing applicable could be taken from the answer."""

    exit_code = 3


class Offer(StrEnum):
    """Where an action is offered (the language server's code actions)."""

    SELECTION = "selection"  # a non-empty selection
    CURSOR = "cursor"  # the cursor in a function or class (or a selection)
    DIAGNOSTIC = "diagnostic"  # one quick fix per problem the editor reported
    ALWAYS = "always"  # anywhere in a document


@dataclass(frozen=True, slots=True)
class Problem:
    """A diagnostic the editor reported: message, where, and who said so."""

    message: str
    range: Range
    source: str | None = None
    code: str | None = None

    def describe(self) -> str:
        who = f"{self.source}: " if self.source else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{who}{self.message.strip()}{code} (line {self.range.start.line + 1})"


@dataclass(frozen=True, slots=True)
class RefactorRequest:
    """One action named ``kind`` on ``document`` at ``range`` (the selection, or an empty range
    at the cursor). ``root`` is the workspace folder (where test files go)."""

    kind: str
    document: Document
    range: Range
    instruction: str = ""
    problem: Problem | None = None
    root: str | None = None


@dataclass(frozen=True, slots=True)
class FileChange:
    """Edits to one file. ``create`` means the file does not exist yet (the edits then apply to
    an empty text); ``base_text`` is the text the edits were computed against."""

    path: str
    edits: tuple[TextEdit, ...]
    base_text: str
    create: bool = False


@dataclass(frozen=True, slots=True)
class RefactorPlan:
    """What to ask the model and where the answer goes."""

    request: RefactorRequest
    messages: tuple[ChatMessage, ...]
    start: int  # the region of the document the answer is about (offsets)
    end: int
    indent: str  # the common indentation removed from the region before asking
    name: str  # the function/class name, or "" for a bare region
    max_tokens: int
    test_path: str | None = None
    test_import: str | None = None  # the import the tests need (added if the model forgot it)
    # Secrets of the region replaced by numbered markers for the model; put back in the answer.
    secrets: Restorable = field(default_factory=lambda: Restorable(""))
    action: Action | None = field(default=None, compare=False)  # the action that made it

    @property
    def title(self) -> str:
        base = self.action.title if self.action is not None else str(self.request.kind)
        return base + (f" for {self.name}" if self.name else "")


@dataclass(frozen=True, slots=True)
class OfferContext:
    """What an editor knows cheaply where the user is (no model call, no file read):
    the language, whether the buffer has a path, whether text is selected, the name of the
    function or class at the cursor (None outside one; "" for an anonymous one) and, for a
    quick fix, the problem's message."""

    language: str | None
    has_path: bool
    selection: bool
    definition: str | None
    diagnostic: str | None = None


class Action:
    """The base of every action; subclasses set the class attributes and implement
    :meth:`plan` and :meth:`apply`. See the module docstring."""

    name: str = ""  # short name: the terminal's `codeslm action NAME`, RefactorRequest.kind
    title: str = ""  # what the editor's menu shows
    command: str = ""  # the language server command that runs it
    template: str = ""  # the prompt file in prompts/ (without .md); "" when built in code
    max_tokens: int = 768  # tokens the answer may take
    offer: Offer = Offer.CURSOR
    languages: frozenset[str] | None = None  # None: any language
    needs_path: bool = False  # offered only for a saved file (it writes another file)
    takes_instruction: bool = False  # the user says what to do (edit by instruction)
    builtin: bool = True

    def offered(self, context: OfferContext) -> bool:
        """True when the editor should list this action at ``context``."""
        if self.languages is not None and (context.language or "") not in self.languages:
            return False
        if self.needs_path and not context.has_path:
            return False
        if self.offer is Offer.SELECTION:
            return context.selection
        if self.offer is Offer.CURSOR:
            return context.definition is not None
        if self.offer is Offer.DIAGNOSTIC:
            return context.diagnostic is not None
        return True

    def offer_title(self, context: OfferContext) -> str:
        """The menu title at ``context`` (names the definition or the problem)."""
        if self.offer is Offer.DIAGNOSTIC and context.diagnostic:
            message = " ".join(context.diagnostic.split())
            short = message if len(message) <= 60 else message[:59] + "…"
            return f"{self.title}: {short}"
        if self.offer is Offer.CURSOR and context.definition:
            return f"{self.title} for `{context.definition}`"
        return self.title

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        """The region and the messages for ``request``; InputError when it cannot apply."""
        raise NotImplementedError

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        """The edits ``answer`` implies (secrets already restored); UnusableAnswer when it
        holds nothing applicable."""
        raise NotImplementedError

    def answer_complete(self, plan: RefactorPlan, answer: str) -> bool:
        """True once the streamed ``answer`` holds all this action takes from it (generation
        then stops early); by default the whole answer is read."""
        return False
