"""Every member name a Python class or module offers, read off its source (pure: lines in).

The engine uses these sets to keep the first identifier after ``receiver.`` to a name that
exists (monitor-guided decoding: a small model otherwise invents members). A missing name
would forbid the right answer, so the readers here over-include rather than miss: every name
bound at the class's or module's level, every ``self.name`` assigned anywhere in the class,
and the members of well-known library bases. They give None where the source cannot tell
the whole set: ``__getattr__``, ``setattr(self, ...)``, a base or star import from outside the
repository that is not listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .tags import Symbol

_EXCEPTION = frozenset({"args", "with_traceback", "add_note", "__traceback__", "__cause__",
                        "__context__", "__notes__"})
_ENUM = frozenset({"name", "value", "_name_", "_value_", "_missing_", "_member_map_"})
_PYDANTIC = frozenset({
    "model_config", "model_fields", "model_computed_fields", "model_extra", "model_fields_set",
    "model_construct", "model_copy", "model_dump", "model_dump_json", "model_json_schema",
    "model_parametrized_name", "model_post_init", "model_rebuild", "model_validate",
    "model_validate_json", "model_validate_strings", "dict", "json", "copy", "parse_obj",
    "parse_raw", "parse_file", "from_orm", "construct", "schema", "schema_json", "validate",
    "update_forward_refs",
})
# Bases from outside the repository whose members are known (by their last dotted name).
KNOWN_BASES: dict[str, frozenset[str]] = {
    "object": frozenset(), "ABC": frozenset(), "Protocol": frozenset(),
    "Generic": frozenset(), "ABCMeta": frozenset(),
    "Exception": _EXCEPTION, "BaseException": _EXCEPTION,
    "ValueError": _EXCEPTION, "TypeError": _EXCEPTION, "RuntimeError": _EXCEPTION,
    "KeyError": _EXCEPTION, "LookupError": _EXCEPTION, "IndexError": _EXCEPTION,
    "AttributeError": _EXCEPTION | {"name", "obj"}, "NotImplementedError": _EXCEPTION,
    "OSError": _EXCEPTION | {"errno", "strerror", "filename", "filename2"},
    "Enum": _ENUM, "IntEnum": _ENUM, "StrEnum": _ENUM, "Flag": _ENUM, "IntFlag": _ENUM,
    "NamedTuple": frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults",
                             "count", "index"}),
    "BaseModel": _PYDANTIC, "RootModel": _PYDANTIC | {"root"},
}
OBJECT_MEMBERS = frozenset({
    "__class__", "__dict__", "__doc__", "__module__", "__init__", "__repr__", "__str__",
    "__eq__", "__hash__", "__name__", "__qualname__", "__annotations__", "__subclasses__",
    "__mro__", "__new__", "__init_subclass__",
})
MODULE_MEMBERS = frozenset({"__name__", "__file__", "__doc__", "__all__", "__path__",
                            "__package__", "__spec__", "__loader__", "__dict__"})

_NAME = r"[A-Za-z_]\w*"
_DEF = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+({_NAME})")
_BOUND = re.compile(rf"^\s*({_NAME}(?:\s*,\s*{_NAME})*)\s*(?::[^=\n]*)?(?:=(?!=)|$)")
_ANNOTATED = re.compile(rf"^\s*({_NAME})\s*:\s*\S")
_SELF_ATTR = re.compile(rf"\bself\.({_NAME})\s*(?::[^=\n]*)?(?:[-+*/|&%@^]|//|\*\*|<<|>>)?=(?!=)")
_AS_FOR = re.compile(rf"\b(?:as|for)\s+({_NAME})")
_DYNAMIC = re.compile(r"\bsetattr\(\s*self\b|\bself\.__dict__\b|\bdef\s+__getattr(?:ibute)?__\b")
_STAR = re.compile(r"^\s*from\s+(\S+)\s+import\s+\*")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def class_own_members(lines: Sequence[str], cls: Symbol,
                      symbols: Iterable[Symbol]) -> set[str] | None:
    """The names ``cls`` binds itself: its methods and nested classes, the names assigned or
    annotated in its body, and every ``self.name`` its methods assign. None when the class
    makes attributes up at run time (``__getattr__``, ``setattr(self, ...)``)."""
    body = lines[cls.start_line + 1: cls.end_line + 1]
    text = "\n".join(body)
    if _DYNAMIC.search(text):
        return None
    names = {s.name for s in symbols if s.scope.rsplit(".", 1)[-1] == cls.name}
    names.update(_SELF_ATTR.findall(text))
    level = next((_indent(line) for line in body if line.strip()
                  and _indent(line) > _indent(lines[cls.start_line])), None)
    if level is None:
        return names
    for line in body:
        if not line.strip() or _indent(line) != level:
            continue  # a method body (its self.name are counted above)
        found = _DEF.match(line) or _ANNOTATED.match(line)
        if found:
            names.add(found.group(1))
            continue
        bound = _BOUND.match(line)
        if bound:
            names.update(n.strip() for n in bound.group(1).split(","))
    return names


def class_bases(header: str) -> list[str] | None:
    """The base classes of a ``class`` header, each as its last dotted name without
    subscripts (``pydantic.BaseModel`` -> ``BaseModel``, ``Generic[T]`` -> ``Generic``);
    keyword arguments (``metaclass=...``) skipped; None for a header it cannot read."""
    start = header.find("(")
    colon = header.rfind(":")
    if start < 0:
        return []
    inner, depth = header[start + 1:], 0
    parts: list[str] = []
    current: list[str] = []
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    else:
        if colon < 0:
            return None  # the header goes on past what we have
    parts.append("".join(current))
    bases = []
    for part in parts:
        part = re.sub(r"\[.*", "", part.strip(), flags=re.DOTALL).strip()
        if not part or "=" in part or part.startswith("*"):
            continue
        last = part.rsplit(".", 1)[-1]
        if not last.isidentifier():
            return None
        bases.append(last)
    return bases


def module_own_members(lines: Sequence[str], symbols: Iterable[Symbol],
                       imported: Iterable[str]) -> set[str] | None:
    """The names a module binds at its top level: definitions, assignments (outside its
    functions and classes, inside ``if``/``try`` blocks too), loop and ``as`` names, and the
    names its imports bind. None when it defines a module ``__getattr__``."""
    names = set(MODULE_MEMBERS)
    names.update(imported)
    inside: list[tuple[int, int]] = []
    for s in symbols:
        if s.scope:
            continue
        names.add(s.name)
        if s.kind in {"function", "class", "method"}:
            inside.append((s.start_line + 1, s.end_line))
            if s.name == "__getattr__":
                return None
    inside.sort()
    k = 0
    for i, line in enumerate(lines):
        while k < len(inside) and inside[k][1] < i:
            k += 1
        if k < len(inside) and inside[k][0] <= i <= inside[k][1]:
            continue
        bound = _BOUND.match(line) or _DEF.match(line)
        if bound:
            names.update(n.strip() for n in bound.group(1).split(","))
        names.update(_AS_FOR.findall(line))
    return names


def star_imports(lines: Sequence[str]) -> list[str]:
    """The modules ``from x import *`` lines name."""
    return [m.group(1) for line in lines if (m := _STAR.match(line))]


def remainders(members: Iterable[str], partial: str) -> tuple[str, ...]:
    """What may follow ``partial`` (the part of the member name already typed): the rest of
    each member that starts with it, sorted; empty when none does."""
    return tuple(sorted({m[len(partial):] for m in members if m.startswith(partial)}))
