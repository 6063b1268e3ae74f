"""Python function signatures as text: where a ``def`` header ends, and moving the type
annotations of one signature onto another (the type-hints action takes only the model's
annotations, never its parameters, defaults or names)."""

from __future__ import annotations

import ast
import io
import tokenize

from .base import UnusableAnswer

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def header_end(code: str, start: int) -> int | None:
    """The offset just after the ``:`` that ends the ``def`` header starting at ``start``
    (tokenized, so colons in strings, lambdas and brackets do not count); None when the
    header is incomplete."""
    depth = 0
    lines = code[start:].splitlines(keepends=True)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code[start:]).readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == ":" and depth == 0:
                row, col = tok.end
                return start + sum(len(ln) for ln in lines[: row - 1]) + col
    except (tokenize.TokenError, SyntaxError):  # cut off mid-header, or not Python
        return None
    return None


def parse_signature(signature: str) -> _Function:
    """The function node of a header (``def ...:``, indented or not); UnusableAnswer when it
    is not valid Python. Positions are one line down (and one column right on the first
    line) from those in ``signature``: :class:`_Offsets` maps them back."""
    try:
        # Inside a block, one space deeper: an indented (method) header parses as well.
        tree = ast.parse("if 1:\n " + signature + " ...")
    except SyntaxError:
        raise UnusableAnswer("the signature is not valid Python") from None
    block = tree.body[0]
    assert isinstance(block, ast.If)
    function = block.body[0]
    assert isinstance(function, _Function)
    return function


def _parameters(function: _Function) -> list[ast.arg]:
    args = function.args
    out = [*args.posonlyargs, *args.args]
    out += [args.vararg] if args.vararg else []
    out += list(args.kwonlyargs)
    out += [args.kwarg] if args.kwarg else []
    return out


def _defaults(function: _Function) -> dict[str, ast.expr]:
    """Parameter name -> its default value node."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    out = {
        a.arg: d
        for a, d in zip(
            positional[len(positional) - len(args.defaults) :], args.defaults, strict=True
        )
    }
    out.update(
        {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    )
    return out


class _Offsets:
    """(1-based line of the parsed text, UTF-8 column) -> offset into the signature."""

    def __init__(self, signature: str) -> None:
        self.lines = signature.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def __call__(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 2]  # the parsed text has "if 1:" first
        if lineno == 2:
            col -= 1  # and one space before the header
        return self.starts[lineno - 2] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))


def transplant_annotations(old: str, new: str) -> str:
    """``old`` with the annotations ``new`` gives its parameters and its return value, where
    ``old`` has none. Only parameters of the same name are annotated; ``self`` and ``cls``
    never; ``x=1`` becomes ``x: int = 1``. Nothing else of ``new`` is taken."""
    before, after = parse_signature(old), parse_signature(new)
    wanted = {a.arg: a.annotation for a in _parameters(after) if a.annotation is not None}
    defaults = _defaults(before)
    at = _Offsets(old)
    edits: list[tuple[int, int, str]] = []  # (start, end, text) on old
    for param in _parameters(before):
        annotation = wanted.get(param.arg)
        if param.annotation is not None or annotation is None or param.arg in ("self", "cls"):
            continue
        end = at(param.lineno, param.col_offset) + len(param.arg)
        if param.arg in defaults:  # "x=1" / "x = 1" -> "x: T = 1"
            default = defaults[param.arg]
            value_start = at(default.lineno, default.col_offset)
            stop = end + old[end:value_start].index("=") + 1
            while stop < value_start and old[stop] in " \t":
                stop += 1
            edits.append((end, stop, f": {ast.unparse(annotation)} = "))
        else:
            edits.append((end, end, f": {ast.unparse(annotation)}"))
    if before.returns is None and after.returns is not None:
        close = old.rstrip().removesuffix(":").rstrip()
        edits.append((len(close), len(close), f" -> {ast.unparse(after.returns)}"))
    out = old
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out
