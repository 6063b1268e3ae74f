"""User-defined actions from configuration: ``[[actions]]`` tables in the config files (in a
``pyproject.toml``, ``[[tool.codeslm.actions]]``), shown beside the built-in actions::

    [[actions]]
    name = "simplify"                     # `codeslm action simplify FILE:LINE`
    title = "Simplify"                    # the editor's menu (default: the name)
    prompt = "Simplify this {language} code from {file}:\\n{selection}"
    offered = "selection"                 # selection | cursor | diagnostic | always
    mode = "replace"                      # replace | insert_above | insert_below
    max_tokens = 512                      # optional

Placeholders are ``{selection}`` (the code the action works on), ``{file}``, ``{language}`` and
``{diagnostics}`` (the reported problem, for ``offered = "diagnostic"``); ``{{``/``}}`` are
literal braces. Every mistake is one ConfigError line naming the file and the action. A later
file (the project's) overrides an action of the same name from an earlier one (the user's).
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..fileio import FileMissing, read_limited
from ..generate import extract_code
from ..redaction import redact_if_needed
from ..templates import load_template
from ..textedit import insertion
from ..types import ChatMessage
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest, UnusableAnswer
from .regions import (
    Region,
    build_plan,
    definition_region,
    lines_region,
    problem_region,
    reindent,
    selection,
    selection_region,
)
from .replace import replace_region

COMMAND = "codeslm.action"  # the language server command: {"action": NAME, ...}
PLACEHOLDERS = ("selection", "file", "language", "diagnostics")
MODES = ("replace", "insert_above", "insert_below")
_KEYS = {"name", "title", "prompt", "offered", "mode", "max_tokens"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_CONFIG_LIMIT = 1_000_000

_ANSWER_FORMS = {
    "replace": "Answer with the complete rewritten code in exactly one fenced code block; "
    "change nothing the request does not ask for and keep the indentation style.",
    "insert_above": "Answer with only the text to put above the code (in one fenced code "
    "block when it is code); do not repeat the code.",
    "insert_below": "Answer with only the text to put below the code (in one fenced code "
    "block when it is code); do not repeat the code.",
}


def fill(prompt: str, values: Mapping[str, str]) -> str:
    """``prompt`` with its ``{name}`` placeholders replaced (``{{``/``}}`` are braces)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return values[match.group(1).strip()]

    return _FIELD.sub(one, prompt)


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    title: str
    prompt: str
    offer: Offer
    mode: str
    max_tokens: int
    origin: str


class UserAction(Action):
    """An action made from an ``[[actions]]`` table; see the module docstring."""

    command = COMMAND
    builtin = False

    def __init__(self, spec: _Spec) -> None:
        self.name = spec.name
        self.title = spec.title
        self.prompt = spec.prompt
        self.offer = spec.offer
        self.mode = spec.mode
        self.max_tokens = spec.max_tokens
        self.origin = spec.origin

    def _region(self, request: RefactorRequest) -> Region:
        start, end = selection(request)
        if self.offer is Offer.DIAGNOSTIC and request.problem is not None:
            return problem_region(request)
        if self.offer is Offer.CURSOR and start == end:
            return definition_region(request)
        return selection_region(request)

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        doc = request.document
        region = self._region(request)
        problem = request.problem.describe() if request.problem is not None else "(none reported)"
        file = Path(doc.path).name if doc.path else "(unsaved buffer)"
        if doc.path and request.root:
            with contextlib.suppress(ValueError):
                file = str(Path(doc.path).relative_to(request.root))

        def render(values: dict[str, str]) -> tuple[ChatMessage, ...]:
            filled = fill(
                self.prompt,
                {
                    "selection": values["code"],
                    "language": values["language"],
                    "file": redact_if_needed(file),
                    "diagnostics": redact_if_needed(problem),
                },
            )
            return load_template("user_action").render(
                language=values["language"], request=filled, answer_form=_ANSWER_FORMS[self.mode]
            )

        return build_plan(self, request, region, {}, render=render)

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        if self.mode == "replace":
            return [replace_region(plan, answer)]
        doc = plan.request.document
        text = doc.text
        block = (extract_code(answer) if "```" in answer else answer).strip("\n")
        if not block.strip():
            raise UnusableAnswer("the model's answer is empty")
        if self.mode == "insert_above":
            at = text.rfind("\n", 0, plan.start) + 1
        else:
            at = lines_region(text, plan.start, plan.end)[1]
        line_start = text.rfind("\n", 0, plan.start) + 1
        indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
        new = reindent(block, indent).rstrip("\n") + "\n"
        if at > 0 and text[at - 1] != "\n":
            new = "\n" + new  # the region ends the file without a newline
        return [FileChange(doc.path or "", tuple(insertion(text, at, new)), text)]


def parse_actions(tables: Any, origin: str, *, reserved: Iterable[str] = ()) -> list[UserAction]:
    """The actions of one file's ``actions`` array; ConfigError (one line) on any mistake.
    ``reserved`` are names taken by built-in actions."""
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(f"{origin}: actions must be an array of tables ([[actions]])")
    taken = set(reserved)
    seen: set[str] = set()
    actions = []
    for i, table in enumerate(tables, 1):
        spec = _parse_one(table, origin, i)
        if spec.name in taken:
            raise ConfigError(
                f"{origin}: action {spec.name!r} has the name of a built-in action",
                hint="choose another name",
            )
        if spec.name in seen:
            raise ConfigError(f"{origin}: action {spec.name!r} is defined twice")
        seen.add(spec.name)
        actions.append(UserAction(spec))
    return actions


def _parse_one(table: Mapping[str, Any], origin: str, index: int) -> _Spec:
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"{origin}: action #{index}: name must be a word of letters, digits, "
            f"- and _ (got {name!r})"
        )
    where = f"{origin}: action {name!r}"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    prompt = table.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where}: prompt must be a non-empty string")
    for match in _FIELD.finditer(prompt):
        field = match.group(1)
        if field is not None and field.strip() not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ConfigError(
                f"{where}: unknown placeholder {{{field}}} in prompt "
                f"(known: {known}; write {{{{ and }}}} for braces)"
            )
    title = table.get("title", name)
    offered = table.get("offered", "selection")
    mode = table.get("mode", "replace")
    max_tokens = table.get("max_tokens", 768)
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"{where}: title must be a non-empty string")
    if offered not in {o.value for o in Offer}:
        raise ConfigError(
            f"{where}: offered must be one of {', '.join(o.value for o in Offer)} (got {offered!r})"
        )
    if mode not in MODES:
        raise ConfigError(f"{where}: mode must be one of {', '.join(MODES)} (got {mode!r})")
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not (16 <= max_tokens <= 8192)
    ):
        raise ConfigError(f"{where}: max_tokens must be an integer from 16 to 8192")
    return _Spec(name, title.strip(), prompt, Offer(offered), mode, max_tokens, origin)


def _tables(path: Path) -> Any:
    """The ``actions`` array of a config file (None when it has none)."""
    try:
        data = tomllib.loads(read_limited(path, _CONFIG_LIMIT).decode("utf-8"))
    except FileMissing:
        return None
    except (InputError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the actions ({exc})") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("codeslm", {}) if isinstance(data.get("tool"), dict) else {}
    return data.get("actions") if isinstance(data, dict) else None


def load_user_actions(
    files: Iterable[Path], *, reserved: Iterable[str] = ()
) -> tuple[list[UserAction], list[str]]:
    """The user-defined actions of ``files`` (lowest precedence first; a later file's action
    replaces an earlier one of the same name) and one error line per file that has a mistake
    (that file's actions are all left out)."""
    reserved = set(reserved)
    by_name: dict[str, UserAction] = {}
    errors: list[str] = []
    for path in files:
        try:
            tables = _tables(path)
            if tables is None:
                continue
            actions = parse_actions(tables, str(path), reserved=reserved)
        except ConfigError as exc:
            errors.append(exc.message)
            continue
        for action in actions:
            by_name[action.name] = action
    return list(by_name.values()), errors
