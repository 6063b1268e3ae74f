"""Prompt templates stored as data in ``prompts/`` (installed as ``codeslm/prompts``).

A template file is TOML front matter between ``+++`` lines, then sections that start with a line
``### system``, ``### user`` or ``### assistant``. Placeholders are ``${name}``
(:class:`string.Template`); the front matter lists ``variables`` (all required) and optional
``defaults``. Rendering with a missing or an unknown variable raises :class:`PromptError`, so a
template and its callers cannot drift apart silently.
"""

from __future__ import annotations

import functools
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import PromptError
from .types import ChatMessage

_ROLES = ("system", "user", "assistant")


def read_resource(name: str) -> str:
    """Text of ``prompts/<name>`` from the installed package."""
    try:
        return (resources.files("codeslm.prompts") / name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        raise PromptError(f"prompt file {name!r} is missing from the installed package") from None


def list_resources(suffix: str) -> list[str]:
    """Names of the files in ``prompts/`` ending with ``suffix``."""
    root = resources.files("codeslm.prompts")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(suffix))


def placeholders(text: str) -> set[str]:
    """Names of the ``${name}``/``$name`` placeholders in ``text``."""
    names: set[str] = set()
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
    return names


def substitute(text: str, values: dict[str, str], *, where: str) -> str:
    """Strict substitution: every placeholder of ``text`` must be in ``values``."""
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise PromptError(f"{where}: no value for ${{{exc.args[0]}}}") from None
    except ValueError as exc:
        raise PromptError(f"{where}: malformed placeholder ({exc})") from None


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    """A parsed chat prompt template."""

    name: str
    description: str
    variables: tuple[str, ...]
    defaults: dict[str, str]
    sections: tuple[tuple[str, str], ...]  # (role, text)
    options: dict[str, Any]

    def render(self, **values: str) -> tuple[ChatMessage, ...]:
        """Render into chat messages; unknown or missing variables raise PromptError."""
        unknown = set(values) - set(self.variables)
        if unknown:
            raise PromptError(f"template {self.name}: unknown variable(s) {sorted(unknown)}")
        merged = {**self.defaults, **values}
        missing = [v for v in self.variables if v not in merged]
        if missing:
            raise PromptError(f"template {self.name}: missing variable(s) {missing}")
        return tuple(
            ChatMessage(role, substitute(text, merged, where=f"template {self.name}").strip("\n"))
            for role, text in self.sections
        )


def parse_template(name: str, text: str) -> ChatTemplate:
    """Parse a template file's text; raise PromptError if it is malformed."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "+++":
        raise PromptError(f"template {name}: must start with +++ front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise PromptError(f"template {name}: front matter is not closed with +++") from None
    try:
        meta = tomllib.loads("".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"template {name}: bad front matter ({exc})") from None
    sections: list[tuple[str, list[str]]] = []
    for line in lines[end + 1:]:
        stripped = line.strip()
        if stripped.startswith("### ") and stripped[4:] in _ROLES:
            sections.append((stripped[4:], []))
        elif sections:
            sections[-1][1].append(line)
        elif stripped:
            raise PromptError(f"template {name}: text before the first ### section")
    if not sections:
        raise PromptError(f"template {name}: no ### system/user section")
    variables = tuple(meta.get("variables", ()))
    defaults = {str(k): str(v) for k, v in meta.get("defaults", {}).items()}
    used: set[str] = set()
    for _, body in sections:
        used |= placeholders("".join(body))
    declared = set(variables)
    if used != declared:
        raise PromptError(
            f"template {name}: placeholders {sorted(used)} do not match declared "
            f"variables {sorted(declared)}"
        )
    options = {k: v for k, v in meta.items() if k not in {"variables", "defaults", "description"}}
    return ChatTemplate(
        name=name,
        description=str(meta.get("description", "")),
        variables=variables,
        defaults=defaults,
        sections=tuple((role, "".join(body)) for role, body in sections),
        options=options,
    )


@functools.cache
def load_template(name: str) -> ChatTemplate:
    """Load ``prompts/<name>.md``."""
    return parse_template(name, read_resource(f"{name}.md"))


def template_names() -> list[str]:
    """Names of every chat template shipped in ``prompts/``."""
    return [n[: -len(".md")] for n in list_resources(".md")]
