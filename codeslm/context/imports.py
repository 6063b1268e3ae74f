"""Import statements per language and their resolution to files of the workspace (pure).

Extraction reads the source text with small per-language patterns (robust on broken code,
and it works for buffers that do not parse). Resolution maps an import to the indexed files
that define it, given the importing file's path and a :class:`PathLookup` of the workspace.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Import:
    """One import: ``module`` as written, the ``(name, local alias)`` pairs it binds, and the
    local name bound to the module itself (``alias``; empty when none)."""

    module: str
    names: tuple[tuple[str, str], ...] = ()
    alias: str = ""


class PathLookup:
    """The workspace's relative paths, searchable by suffix."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.version = 0  # bumps when the set of paths changes
        self._paths: set[str] = set()
        self._by_base: dict[str, list[str]] = {}
        for p in paths:
            self.add(p)

    def add(self, path: str) -> None:
        if path in self._paths:
            return
        self._paths.add(path)
        self.version += 1
        self._by_base.setdefault(posixpath.basename(path), []).append(path)

    def discard(self, path: str) -> None:
        if path in self._paths:
            self._paths.discard(path)
            self.version += 1
            self._by_base[posixpath.basename(path)].remove(path)

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def ending_with(self, suffix: str) -> list[str]:
        """Paths equal to ``suffix`` or ending with ``/suffix``, shortest first."""
        base = posixpath.basename(suffix)
        found = [p for p in self._by_base.get(base, ()) if p == suffix or p.endswith("/" + suffix)]
        return sorted(found, key=lambda p: (p.count("/"), p))


_PY_FROM = re.compile(
    r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*(?:\\\n[^\n#]*)*)", re.M
)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.M)
_JS_FROM = re.compile(
    r"""^[ \t]*(?:import|export)\s+(?:type\s+)?([\w$*{}\s,]+?)\s+from\s+['"]([^'"]+)['"]""", re.M
)
_JS_BARE = re.compile(r"""^[ \t]*import\s+['"]([^'"]+)['"]""", re.M)
_JS_REQUIRE = re.compile(
    r"""(?:const|let|var)\s+([\w$]+|\{[^}]*\})\s*=\s*require\(\s*['"]([^'"]+)['"]\s*\)"""
)
_GO_BLOCK = re.compile(r"^import\s*\(([^)]*)\)", re.M)
_GO_SINGLE = re.compile(r"""^import\s+([\w.]+\s+)?"([^"]+)\"""", re.M)
_GO_SPEC = re.compile(r"""^\s*([\w.]+\s+)?"([^"]+)\"""", re.M)
_JAVA = re.compile(r"^[ \t]*import[ \t]+(static[ \t]+)?([\w.]+)(\.\*)?[ \t]*;", re.M)
_RUST = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?use[ \t]+([^;]+);", re.M)
_C_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)


def extract_imports(text: str, language: str | None) -> list[Import]:
    """The imports of ``text`` (empty for languages without a rule here)."""
    if language == "python":
        return _python(text)
    if language in {"javascript", "typescript", "tsx"}:
        return _javascript(text)
    if language == "go":
        return _go(text)
    if language == "java":
        return _java(text)
    if language == "rust":
        return _rust(text)
    if language in {"c", "cpp"}:
        return [Import(m.group(1)) for m in _C_INCLUDE.finditer(text)]
    return []


def _split_aliases(spec: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in spec.replace("\\\n", " ").strip("() \t\n").split(","):
        words = part.split()
        if not words or words[0] == "*":
            continue
        name = words[0]
        alias = words[2] if len(words) >= 3 and words[1] == "as" else name
        if name.isidentifier() and alias.isidentifier():
            pairs.append((name, alias))
    return tuple(pairs)


def _python(text: str) -> list[Import]:
    found: list[Import] = []
    for m in _PY_FROM.finditer(text):
        found.append(Import(m.group(1), _split_aliases(m.group(2))))
    for m in _PY_IMPORT.finditer(text):
        for part in m.group(1).split(","):
            words = part.split()
            if not words or not all(w.isidentifier() for w in words[0].split(".")):
                continue
            module = words[0]
            alias = words[2] if len(words) >= 3 and words[1] == "as" else module.split(".")[0]
            found.append(Import(module, (), alias))
    return found


def _javascript(text: str) -> list[Import]:
    found: list[Import] = []
    for m in _JS_FROM.finditer(text):
        clause, module = m.group(1), m.group(2)
        names: list[tuple[str, str]] = []
        alias = ""
        braces = re.search(r"\{([^}]*)\}", clause)
        if braces:
            for part in braces.group(1).split(","):
                words = part.replace("type ", "").split()
                if words:
                    names.append((words[0], words[2] if len(words) >= 3 else words[0]))
        rest = re.sub(r"\{[^}]*\}", "", clause)
        star = re.search(r"\*\s+as\s+([\w$]+)", rest)
        if star:
            alias = star.group(1)
        default = re.match(r"\s*([\w$]+)", rest)
        if default and default.group(1) != "as":
            names.append(("default", default.group(1)))
        found.append(Import(module, tuple(names), alias))
    for m in _JS_BARE.finditer(text):
        found.append(Import(m.group(1)))
    for m in _JS_REQUIRE.finditer(text):
        target, module = m.group(1), m.group(2)
        if target.startswith("{"):
            found.append(Import(module, _split_js_destructure(target)))
        else:
            found.append(Import(module, (), target))
    return found


def _split_js_destructure(target: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in target.strip("{} ").split(","):
        bits = [b.strip() for b in part.split(":")]
        if bits and bits[0]:
            pairs.append((bits[0], bits[-1]))
    return tuple(pairs)


def _go(text: str) -> list[Import]:
    found: list[Import] = []
    specs: list[tuple[str | None, str]] = []
    for block in _GO_BLOCK.finditer(text):
        specs.extend((m.group(1), m.group(2)) for m in _GO_SPEC.finditer(block.group(1)))
    specs.extend((m.group(1), m.group(2)) for m in _GO_SINGLE.finditer(text))
    for alias, path in specs:
        name = (alias or "").strip() or path.rsplit("/", 1)[-1]
        found.append(Import(path, (), name))
    return found


def _java(text: str) -> list[Import]:
    found: list[Import] = []
    for m in _JAVA.finditer(text):
        dotted = m.group(2)
        if m.group(3):  # import a.b.*;
            found.append(Import(dotted))
        elif m.group(1):  # import static a.b.C.member;
            owner, _, member = dotted.rpartition(".")
            found.append(Import(owner, ((member, member),)))
        else:
            cls = dotted.rpartition(".")[2]
            found.append(Import(dotted, ((cls, cls),)))
    return found


def _rust(text: str) -> list[Import]:
    found: list[Import] = []
    for m in _RUST.finditer(text):
        tree = " ".join(m.group(1).split())
        if "{" in tree:
            base, _, rest = tree.partition("{")
            base = base.rstrip(":").strip()
            names = []
            for part in rest.rstrip("}").split(","):
                words = part.strip().split()
                if words and words[0] != "self":
                    leaf = words[0].split("::")[-1]
                    names.append((leaf, words[2] if len(words) >= 3 else leaf))
            found.append(Import(base, tuple(names)))
        else:
            words = tree.split()
            base, _, leaf = words[0].rpartition("::")
            alias = words[2] if len(words) >= 3 else leaf
            found.append(Import(base, ((leaf, alias),)))
    return found


# -- resolution ------------------------------------------------------------------------------


def resolve(imp: Import, current: str, language: str | None, paths: PathLookup) -> list[str]:
    """Workspace files an import refers to (possibly several; empty when external)."""
    if language == "python":
        return _resolve_python(imp, current, paths)
    if language in {"javascript", "typescript", "tsx"}:
        return _resolve_js(imp.module, current, paths)
    if language == "go":
        parts = imp.module.split("/")
        for k in range(min(3, len(parts)), 0, -1):
            suffix = "/".join(parts[-k:])
            hits = [p for p in _dir_files(paths, suffix) if p.endswith(".go")]
            if hits:
                return hits
        return []
    if language == "java":
        return paths.ending_with(imp.module.replace(".", "/") + ".java")[:1] or (
            paths.ending_with(imp.module.rpartition(".")[0].replace(".", "/") + ".java")[:1])
    if language == "rust":
        return _resolve_rust(imp, paths)
    if language in {"c", "cpp"}:
        here = posixpath.normpath(posixpath.join(posixpath.dirname(current), imp.module))
        return [here] if here in paths else paths.ending_with(imp.module)[:1]
    return []


def _dir_files(paths: PathLookup, dir_suffix: str) -> list[str]:
    return sorted(p for p in paths if posixpath.dirname(p).endswith(dir_suffix))


def _resolve_python(imp: Import, current: str, paths: PathLookup) -> list[str]:
    module = imp.module
    dots = len(module) - len(module.lstrip("."))
    parts = [p for p in module[dots:].split(".") if p]
    bases: list[str] = []
    if dots:
        base = posixpath.dirname(current)
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        bases = [posixpath.join(base, *parts) if parts else base]
    found: list[str] = []

    def add_module(stem: str, *, suffix: bool) -> None:
        for candidate in (stem + ".py", stem + "/__init__.py", stem + ".pyi"):
            if suffix:
                # Only where ``stem`` is importable: its top package sits in a source root (a
                # directory that is not a package itself), so ``import logging`` is not
                # ``src/pkg/utils/logging.py``.
                hits = [h for h in paths.ending_with(candidate)
                        if _source_root(h[: len(h) - len(candidate)], paths)][:1]
            else:
                hits = [candidate] if candidate in paths else []
            for hit in hits:
                if hit not in found:
                    found.append(hit)
            if hits:
                return

    if dots:
        for stem in bases:
            add_module(stem, suffix=False)
            for name, _ in imp.names:  # `from . import submodule`
                add_module(posixpath.join(stem, name), suffix=False)
    elif parts:
        stem = "/".join(parts)
        add_module(stem, suffix=True)
        for name, _ in imp.names:
            add_module(f"{stem}/{name}", suffix=True)
    return found


def _source_root(prefix: str, paths: PathLookup) -> bool:
    """Whether the directory ``prefix`` (``""`` or ending with ``/``) is a place the
    interpreter imports top-level modules from: the root, or a directory with no
    ``__init__.py``."""
    return not prefix or f"{prefix}__init__.py" not in paths


_JS_EXTS = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts", "/index.ts", "/index.tsx",
            "/index.js", "/index.jsx")


def _resolve_js(module: str, current: str, paths: PathLookup) -> list[str]:
    if not module.startswith("."):
        return []
    stem = posixpath.normpath(posixpath.join(posixpath.dirname(current), module))
    if stem.endswith(".js"):  # TypeScript sources import their compiled names
        for ext in (".ts", ".tsx"):
            if stem[:-3] + ext in paths:
                return [stem[:-3] + ext]
    for ext in _JS_EXTS:
        if stem + ext in paths:
            return [stem + ext]
    return []


def _resolve_rust(imp: Import, paths: PathLookup) -> list[str]:
    segments = [s for s in imp.module.split("::") if s]
    if not segments:
        return []
    if segments[0] in {"crate", "self", "super"}:
        segments = segments[1:]
    found: list[str] = []
    for k in range(len(segments), 0, -1):
        stem = "/".join(segments[:k])
        for candidate in (stem + ".rs", stem + "/mod.rs"):
            for hit in paths.ending_with(candidate)[:1]:
                if hit not in found:
                    found.append(hit)
        if found:
            break
    return found
