"""Languages the context builder parses: grammar, tag query and scope rules per language.

Grammars come from the per-language PyPI wheels (``tree-sitter-python`` and friends), which work
offline; tag queries are data files in ``prompts/queries/<query>-tags.scm``. A language without a
grammar here (or whose wheel is missing) is plain text to the builder: no symbols, only
similarity windows. Nothing in this module raises for an unknown language.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import logging
from dataclasses import dataclass

from ..errors import ContextError
from ..templates import read_resource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """How to parse one language and read its definitions.

    ``scopes`` are node types that open a named scope (for scope names and signature chains);
    ``widen`` maps a captured definition node type to the enclosing node types that hold the
    whole definition (C's ``function_declarator`` lives inside a ``function_definition``).
    """

    name: str
    module: str
    function: str
    query: str
    scopes: frozenset[str]
    widen: tuple[tuple[str, frozenset[str]], ...] = ()
    keywords: frozenset[str] = frozenset()
    builtins: frozenset[str] = frozenset()  # names a global lookup must not resolve


_C_LIKE_WIDEN = (
    ("function_declarator", frozenset({"function_definition", "declaration", "field_declaration"})),
)

def _words(text: str) -> frozenset[str]:
    """A set of words written as one string (easier to read than a list of literals)."""
    return frozenset(text.split())


_PY_KEYWORDS = _words(
    "False None True and as assert async await break class continue def del elif else "
    "except finally for from global if import in is lambda nonlocal not or pass raise "
    "return try while with yield self cls"
)
_JS_KEYWORDS = _words(
    "break case catch class const continue debugger default delete do else export extends "
    "false finally for function if import in instanceof let new null return super switch "
    "this throw true try typeof undefined var void while with yield async await of static "
    "get set interface type enum implements private public protected readonly"
)
_C_KEYWORDS = _words(
    "auto break case char const continue default do double else enum extern float for goto "
    "if inline int long register return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while NULL bool true false class namespace public private "
    "protected template typename virtual override this new delete nullptr using std "
    "const_cast static_cast"
)

SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        "python", "tree_sitter_python", "language", "python",
        frozenset({"class_definition", "function_definition"}), keywords=_PY_KEYWORDS,
        builtins=frozenset(dir(builtins)),
    ),
    "javascript": LanguageSpec(
        "javascript", "tree_sitter_javascript", "language", "javascript",
        frozenset({"class_declaration", "function_declaration", "method_definition",
                   "generator_function_declaration"}), keywords=_JS_KEYWORDS,
    ),
    "typescript": LanguageSpec(
        "typescript", "tree_sitter_typescript", "language_typescript", "typescript",
        frozenset({"class_declaration", "abstract_class_declaration", "function_declaration",
                   "method_definition", "interface_declaration", "internal_module", "module"}),
        keywords=_JS_KEYWORDS,
    ),
    "tsx": LanguageSpec(
        "tsx", "tree_sitter_typescript", "language_tsx", "typescript",
        frozenset({"class_declaration", "abstract_class_declaration", "function_declaration",
                   "method_definition", "interface_declaration", "internal_module", "module"}),
        keywords=_JS_KEYWORDS,
    ),
    "go": LanguageSpec(
        "go", "tree_sitter_go", "language", "go",
        frozenset({"function_declaration", "method_declaration", "type_spec"}),
        keywords=_words(
            "break case chan const continue default defer else fallthrough for func go goto if "
            "import interface map package range return select struct switch type var nil true "
            "false "
            "err"
        ),
    ),
    "rust": LanguageSpec(
        "rust", "tree_sitter_rust", "language", "rust",
        frozenset({"function_item", "impl_item", "trait_item", "mod_item", "struct_item",
                   "enum_item"}),
        keywords=_words(
            "as async await break const continue crate dyn else enum extern false fn for if "
            "impl in "
            "let loop match mod move mut pub ref return self Self static struct super trait true "
            "type unsafe use where while Some None Ok Err"
        ),
    ),
    "java": LanguageSpec(
        "java", "tree_sitter_java", "language", "java",
        frozenset({"class_declaration", "interface_declaration", "enum_declaration",
                   "record_declaration", "method_declaration", "constructor_declaration"}),
        keywords=_words(
            "abstract assert boolean break byte case catch char class const continue default do "
            "double else enum extends final finally float for goto if implements import instanceof "
            "int interface long native new package private protected public return short static "
            "strictfp super switch synchronized this throw throws transient try void volatile "
            "while "
            "null true false var String"
        ),
    ),
    "c": LanguageSpec(
        "c", "tree_sitter_c", "language", "c",
        frozenset({"function_definition", "struct_specifier"}), _C_LIKE_WIDEN, _C_KEYWORDS,
    ),
    "cpp": LanguageSpec(
        "cpp", "tree_sitter_cpp", "language", "cpp",
        frozenset({"function_definition", "class_specifier", "struct_specifier",
                   "namespace_definition"}), _C_LIKE_WIDEN, _C_KEYWORDS,
    ),
}


def supported() -> list[str]:
    """Names of the languages with a grammar and a tag query."""
    return list(SPECS)


def spec_for(language: str | None) -> LanguageSpec | None:
    """The spec of ``language``, or None for plain text."""
    return SPECS.get(language or "")


@functools.cache
def grammar(language: str) -> object | None:
    """The ``tree_sitter.Language`` for ``language``, or None if it has no usable grammar."""
    spec = SPECS.get(language)
    if spec is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(spec.module)
        return tree_sitter.Language(getattr(module, spec.function)())
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        # A missing or incompatible wheel degrades the language to plain text.
        log.warning("no tree-sitter grammar for %s (%s); treating it as plain text", language, exc)
        return None


@functools.cache
def tags_query(language: str) -> object | None:
    """The compiled tag query of ``language`` (None when it has no grammar).

    A shipped query that does not compile is a packaging bug, reported as ContextError.
    """
    lang = grammar(language)
    if lang is None:
        return None
    import tree_sitter

    name = f"queries/{SPECS[language].query}-tags.scm"
    try:
        return tree_sitter.Query(lang, read_resource(name))  # type: ignore[arg-type]
    except tree_sitter.QueryError as exc:
        raise ContextError(f"the tag query {name} does not compile for {language}: {exc}") from None
