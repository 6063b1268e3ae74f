"""Where ``codeslm eval repo`` hides a line: holes on lines that use a name defined in another
file of the repository (the CrossCodeEval criterion), chosen deterministically from a seed.

Import lines, definition headers, comments and strings are never holes; names of built-in
types, of the file itself and of outside modules do not count as cross-file names.
"""

from __future__ import annotations

import builtins
import io
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..context import languages, tags
from ..context.index import WorkspaceIndex
from ..context.secrets import strip_strings
from ..context.similarity import IDENT
from ..errors import InputError

MAX_DEFINERS = 8
_SKIP_LINE = re.compile(
    r"^(?:import\s|from\s+\S+\s+import\s|#|//|/\*|\*|@|package\s|use\s|#include|export\s.*\sfrom\s"
    r"|(?:async\s+)?def\s|class\s|func\s|fn\s|pub\s+fn\s|function\s|interface\s|type\s|struct\s"
    r"|\"\"\"|''')"
)
_STRINGY = frozenset(
    {
        "string",
        "string_content",
        "comment",
        "string_fragment",
        "template_string",
        "raw_string_literal",
        "interpreted_string_literal",
        "line_comment",
        "block_comment",
        "concatenated_string",
    }
)


_IMPORTS = frozenset(
    {
        "import_statement",
        "import_from_statement",
        "future_import_statement",
        "import_declaration",
        "use_declaration",
        "preproc_include",
        "import_spec_list",
    }
)
_PY_BUILTINS = frozenset(dir(builtins))
# Members of built-in types, files and loggers: ``.join``, ``.read`` or ``logger.debug`` on a
# line says nothing about the repository's own API even when the repository happens to define
# a ``join``.
_PY_BUILTIN_MEMBERS = frozenset(
    name
    for kind in (
        str,
        bytes,
        list,
        dict,
        set,
        tuple,
        int,
        float,
        object,
        io.TextIOWrapper,
        io.BufferedReader,
        logging.Logger,
    )
    for name in dir(kind)
)


def _inside(node: Any, types: frozenset[str]) -> bool:
    while node is not None:
        if node.type in types:
            return True
        node = node.parent
    return False


@dataclass(frozen=True, slots=True)
class Hole:
    """A hidden line: ``path`` relative to the root, 0-based ``line``, the indentation width,
    the ``column`` where the hidden ``target`` starts (the end of the line is hidden too);
    ``names`` are the cross-file names it uses."""

    id: str
    path: str
    line: int
    indent: int
    target: str
    names: tuple[str, ...]
    column: int  # the cursor: the indentation for a whole-line hole
    # No cross-file name of the hidden part appears in the file above the hole (imports
    # aside): only another file can tell the model what comes (CrossCodeEval's intent).
    first_use: bool = False


CUTS = ("api", "line")


def pick_holes(
    index: WorkspaceIndex,
    *,
    count: int,
    seed: int,
    per_file: int = 2,
    read: Callable[[str], str | None] | None = None,
    cut: str = "line",
) -> list[Hole]:
    """Deterministic holes on lines that use names defined only in other files; the same
    lines for every ``cut`` (only where the hidden text starts differs)."""
    if cut not in CUTS:
        raise InputError(f"unknown hole cut {cut!r}", hint="use api or line")
    candidates: dict[str, list[Hole]] = {}
    for path in sorted(index.entries):
        entry = index.entries[path]
        if languages.spec_for(entry.language) is None:
            continue
        text = read(path) if read else _read(index.root / path)
        if text is None:
            continue
        found = _holes_in(index, path, text, entry.language, cut)
        if found:
            candidates[path] = found
    rng = random.Random(seed)
    pool: list[Hole] = []
    for path in sorted(candidates):
        holes = list(candidates[path])
        rng.shuffle(holes)
        pool.extend(holes[:per_file])
    rng.shuffle(pool)
    return sorted(pool[:count], key=lambda h: (h.path, h.line))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _holes_in(
    index: WorkspaceIndex, path: str, text: str, language: str | None, cut: str = "line"
) -> list[Hole]:
    tree = tags.parse(text.encode("utf-8"), language)
    entry = index.entries[path]
    local_names = {s.name for s in entry.symbols}
    external = index.outside_modules(path)  # once per file: it resolves the imports
    def_lines = {s.start_line for s in entry.symbols}
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")) + 1)
    out: list[Hole] = []
    first_line: dict[str, int] = {}  # word -> the first line using it, imports aside
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        node = None
        if tree is not None and stripped:
            byte = offsets[i] + len(line[:indent].encode("utf-8"))
            node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
        if node is None or not _inside(node, _IMPORTS):
            for word in IDENT.findall(strip_strings(line)):
                first_line.setdefault(word, i)
        if not 8 <= len(stripped) <= 160 or i in def_lines or _SKIP_LINE.match(stripped):
            continue
        if node is not None and _inside(node, _STRINGY | _IMPORTS):
            continue
        code = strip_strings(stripped)
        names = _cross_file_names(index, path, code, language, local_names, external)
        if not names:
            continue
        column = indent if cut == "line" else _first_use(line, names, indent, tree, offsets[i])
        if column is None:
            continue  # every use is inside a string: not an API use after all
        hidden = set(IDENT.findall(strip_strings(line[column:])))
        out.append(
            Hole(
                f"{path}:{i + 1}",
                path,
                i,
                indent,
                line[column:].rstrip(),
                tuple(names),
                column,
                first_use=not any(first_line.get(n, i) < i for n in names if n in hidden),
            )
        )
    return out


def _cross_file_names(
    index: WorkspaceIndex,
    path: str,
    code: str,
    language: str | None,
    local_names: set[str],
    external: set[str],
) -> list[str]:
    """The names of a line's ``code`` (strings blanked) that are another file's API: defined in
    1 to :data:`MAX_DEFINERS` other files, not this one, not built in, not a keyword."""
    spec = languages.spec_for(language)
    keywords = spec.keywords if spec else frozenset()
    names = []
    for name in dict.fromkeys(IDENT.findall(code)):
        if (
            len(name) < 3
            or name in keywords
            or name.startswith("__")
            or name in local_names
            or (language == "python" and (name in _PY_BUILTINS or name in _PY_BUILTIN_MEMBERS))
        ):
            continue
        found = index.definitions(name)
        files = {p for p, _ in found}
        # An API: a function, class, method or a constant named like one (not a variable
        # that merely shares its name with something elsewhere), called, accessed as an
        # attribute or capitalised (a class or a constant) on this line.
        api = any(
            s.kind not in {"constant", "variable", "field"} or s.name.isupper() for _, s in found
        ) and (name[0].isupper() or re.search(rf"(?:\.{name}\b|\b{name}\s*\()", code))
        if (
            api
            and files
            and path not in files
            and len(files) <= MAX_DEFINERS
            and not _only_on_external(code, name, external)
        ):
            names.append(name)
    return names


def _only_on_external(code: str, name: str, external: set[str]) -> bool:
    """Whether every use of ``name`` in ``code`` is a member of an outside module
    (``asyncio.run`` when the repository also defines a ``run``)."""
    uses = list(re.finditer(rf"(?:\b(\w+)\s*\.\s*)?\b{re.escape(name)}\b", code))
    return bool(uses) and all(m.group(1) in external for m in uses)


def _first_use(
    line: str, names: Sequence[str], indent: int, tree: Any, line_byte: int
) -> int | None:
    """The column of the first use of any of ``names`` on ``line`` outside strings and
    comments (None when there is none). A lower-case name counts where it is used as an API
    (``.name`` or ``name(``), not where a local variable of the same name is assigned."""
    best: int | None = None
    for name in names:
        for m in re.finditer(rf"\b{re.escape(name)}\b", line):
            if m.start() < indent or (best is not None and m.start() >= best):
                break
            if not name[0].isupper() and not (
                line[: m.start()].rstrip().endswith(".") or re.match(r"\s*\(", line[m.end() :])
            ):
                continue
            if tree is not None:
                byte = line_byte + len(line[: m.start()].encode("utf-8"))
                node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
                if node is not None and _inside(node, _STRINGY):
                    continue
            best = m.start()
            break
    return best
