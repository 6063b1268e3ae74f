"""Message bodies -> JSON values, within limits.

A body must be UTF-8 JSON, nested at most :data:`MAX_DEPTH` deep, with no number longer than
:data:`MAX_NUMBER_CHARS` characters (no LSP value needs more; CPython would otherwise spend
quadratic time on, or refuse, a number of thousands of digits) and no ``NaN``/``Infinity``.
:func:`decode` raises :class:`BodyError` carrying the JSON-RPC error to answer with; for a
body that is JSON but over a limit it names the request's id when it can be found, so the
client still gets its answer. Bytes after the JSON value are handed back (the frame was too
long and they belong to the next message).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

MAX_DEPTH = 100
MAX_NUMBER_CHARS = 64


class BodyError(ValueError):
    """A body that cannot be dispatched: answer ``code`` with ``msg_id`` (None if unknown)."""

    def __init__(self, code: int, reason: str, msg_id: int | str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.msg_id = msg_id


class _OverLimit(ValueError):
    pass


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _OverLimit(
                f"a number of {len(text)} characters (the limit is {MAX_NUMBER_CHARS})"
            )
        return kind(text)

    return parse


def _constant(name: str) -> Any:
    raise _OverLimit(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    parse_int=_number(int), parse_float=_number(float), parse_constant=_constant
)
_BLANK = " \t\r\n"


@dataclass(slots=True)
class Decoded:
    value: Any
    trailing: bytes = b""  # non-blank bytes after the JSON value


def decode(body: bytes) -> Decoded:
    """The JSON value of ``body`` (see the module docstring); BodyError when it has none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Bytes that are not UTF-8 after a whole JSON value belong to the next message (the
        # frame was too long): keep the value, hand them back.
        try:
            decoded = decode(body[: exc.start])  # valid UTF-8 up to there
        except BodyError:
            raise BodyError(PARSE_ERROR, f"parse error: not UTF-8 (byte {exc.start})") from None
        return Decoded(decoded.value, decoded.trailing + body[exc.start :])
    start = len(text) - len(text.lstrip(_BLANK + "\ufeff"))
    if start == len(text):
        raise BodyError(PARSE_ERROR, "parse error: empty body")
    try:
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise BodyError(PARSE_ERROR, f"parse error: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise BodyError(
            INVALID_REQUEST, f"JSON nested deeper than {MAX_DEPTH} levels", recover(body)[0]
        ) from None
    except _OverLimit as exc:
        raise BodyError(INVALID_REQUEST, str(exc), recover(body)[0]) from None
    if _too_deep(value):
        raise BodyError(
            INVALID_REQUEST, f"JSON nested deeper than {MAX_DEPTH} levels", _plain_id(value)
        )
    rest = text[end:]
    if rest.strip(_BLANK):
        blank = len(rest) - len(rest.lstrip(_BLANK))
        return Decoded(value, rest[blank:].encode("utf-8"))
    return Decoded(value)


def _too_deep(value: Any) -> bool:
    """Whether containers nest more than MAX_DEPTH deep (iteratively: no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _plain_id(value: Any) -> int | str | None:
    msg_id = value.get("id") if isinstance(value, dict) else None
    return msg_id if type(msg_id) in (int, str) else None


# -- the envelope of a body that cannot be parsed in full ----------------------------------

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_SCALAR = re.compile(rb'\s*:\s*(-?\d{1,20}(?![\d.eE])|"[^"\\]{0,200}")')


def recover(body: bytes) -> tuple[int | str | None, str | None]:
    """The top-level ``id`` and ``method`` of a JSON object too deep, too large or cut short
    to parse, found by scanning its tokens; None for whichever is not there."""
    depth = 0
    found: dict[bytes, Any] = {}
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token[:1] == b'"':
            if depth == 1 and token in (b'"id"', b'"method"') and token not in found:
                scalar = _SCALAR.match(body, match.end())
                if scalar is not None:
                    found[token] = json.loads(scalar.group(1))
                    if len(found) == 2:
                        break
        elif token in (b"{", b"["):
            if depth == 0 and token != b"{":
                break
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                break
    msg_id = found.get(b'"id"')
    method = found.get(b'"method"')
    return (
        msg_id if type(msg_id) in (int, str) else None,
        method if isinstance(method, str) else None,
    )
