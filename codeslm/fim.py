"""Fill-in-the-middle prompt formats per model family, loaded from ``prompts/fim_formats.toml``.

The family is detected from the model's vocabulary (:func:`detect_format`): a format applies
only if each of its sentinel strings is a single token of the model. Rendering is pure.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import PromptError
from .redaction import redact_around_cursor
from .templates import placeholders, read_resource, substitute

PREFIX_ONLY = "prefix-only"

_FIELDS = ("template", "context_header", "context_file", "current_file", "no_context")
_ALLOWED = {
    "template": {"context", "prefix", "suffix", "path", "path_line"},
    "context_header": {"repo_name"},
    "context_file": {"path", "text", "comment"},
    "current_file": {"path", "comment"},
    "no_context": set(),
}


@dataclass(frozen=True, slots=True)
class ContextFile:
    """A block of code from another file, shown to the model before the current file."""

    path: str
    text: str


@dataclass(frozen=True, slots=True)
class FimFormat:
    """One family's prompt format; see the comments in ``prompts/fim_formats.toml``."""

    name: str
    description: str
    order: str
    detect: tuple[str, ...]
    template: str
    context_header: str
    context_file: str
    current_file: str
    no_context: str
    stop: tuple[str, ...]

    @property
    def supports_fim(self) -> bool:
        """False for prefix-only completion (the suffix is not shown to the model)."""
        return self.order != "prefix"

    def render_context(
        self,
        files: Sequence[ContextFile],
        *,
        path: str | None,
        repo_name: str = "",
        comment: str = "#",
    ) -> str:
        """The ``${context}`` part: header, one block per file, then the current file's marker.

        Without cross-file blocks and without a path this is ``no_context``.
        """
        where = f"FIM format {self.name}"
        if not files and not path:
            return self.no_context
        parts: list[str] = []
        if files:
            parts.append(substitute(self.context_header, {"repo_name": repo_name}, where=where))
            for f in files:
                parts.append(
                    substitute(
                        self.context_file,
                        {"path": f.path, "text": f.text.rstrip("\n"), "comment": comment},
                        where=where,
                    )
                )
        if path:
            parts.append(
                substitute(self.current_file, {"path": path, "comment": comment}, where=where)
            )
        return "".join(parts)

    def render(
        self,
        prefix: str,
        suffix: str,
        *,
        path: str | None = None,
        files: Sequence[ContextFile] = (),
        repo_name: str = "",
        comment: str = "#",
        context: str | None = None,
    ) -> str:
        """The full prompt for a hole between ``prefix`` and ``suffix``.

        ``context`` may be given pre-rendered (by the context builder, which caches stable
        blocks); otherwise it is rendered from ``files`` and ``path``.
        """
        if context is None:
            context = self.render_context(files, path=path, repo_name=repo_name, comment=comment)
        # The current file's secrets are redacted here, where every completion prompt is made;
        # the word at the cursor is kept so the completion stays right (see the function).
        prefix, suffix = redact_around_cursor(prefix, suffix)
        path_line = f"{path}\n" if (path and files) else ""
        values = {
            "context": context,
            "prefix": prefix,
            "suffix": suffix if self.supports_fim else "",
            "path": path or "",
            "path_line": path_line,
        }
        return substitute(self.template, values, where=f"FIM format {self.name}")


def _parse(name: str, table: dict[str, object]) -> FimFormat:
    try:
        values = {f: str(table[f]) for f in _FIELDS}
        fmt = FimFormat(
            name=name,
            description=str(table.get("description", "")),
            order=str(table["order"]),
            detect=tuple(str(t) for t in table.get("detect", ())),  # type: ignore[attr-defined]
            stop=tuple(str(t) for t in table.get("stop", ())),  # type: ignore[attr-defined]
            **values,
        )
    except KeyError as exc:
        raise PromptError(f"fim_formats.toml [{name}] lacks {exc.args[0]!r}") from None
    if fmt.order not in {"psm", "spm", "prefix"}:
        raise PromptError(f"fim_formats.toml [{name}]: order must be psm, spm or prefix")
    for field_name in _FIELDS:
        extra = placeholders(getattr(fmt, field_name)) - _ALLOWED[field_name]
        if extra:
            raise PromptError(f"fim_formats.toml [{name}].{field_name}: unknown {sorted(extra)}")
    return fmt


@functools.cache
def load_formats() -> dict[str, FimFormat]:
    """Every FIM format shipped in ``prompts/fim_formats.toml``, in file order."""
    try:
        data = tomllib.loads(read_resource("fim_formats.toml"))
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"prompts/fim_formats.toml is not valid TOML ({exc})") from None
    return {name: _parse(name, table) for name, table in data.items()}


def get_format(name: str) -> FimFormat:
    """The format called ``name``; PromptError if there is none."""
    formats = load_formats()
    if name not in formats:
        raise PromptError(
            f"unknown FIM format {name!r}", hint=f"known formats: {', '.join(formats)}"
        )
    return formats[name]


def detect_format(token_count: Callable[[str], int]) -> FimFormat:
    """Pick the format whose sentinels are all single tokens (most sentinels wins).

    ``token_count(text)`` returns how many tokens ``text`` is in the model's vocabulary with
    special tokens parsed. Falls back to the prefix-only format.
    """
    best: FimFormat | None = None
    for fmt in load_formats().values():
        if not fmt.detect:
            continue
        if all(token_count(tok) == 1 for tok in fmt.detect) and (
            best is None or len(fmt.detect) > len(best.detect)
        ):
            best = fmt
    return best or load_formats()[PREFIX_ONLY]


def stop_token_ids(fmt: FimFormat, tokenize: Callable[[str], list[int]]) -> tuple[int, ...]:
    """Ids of the format's stop strings that are single tokens of the model."""
    ids: list[int] = []
    for stop in fmt.stop:
        toks = tokenize(stop)
        if len(toks) == 1 and toks[0] not in ids:
            ids.append(toks[0])
    return tuple(ids)
