"""Constrained decoding of a leading identifier (``GenerationRequest.first_identifier``).

:class:`TokenTable` indexes a vocabulary by token text once per model; an
:class:`IdentifierConstraint` is a logits processor that, until the output's leading
identifier is complete, leaves only the tokens that keep it on the way to one of the allowed
names, and then lets everything through. Only identifier characters are constrained, so a
token that finishes a name and goes on (``final_output_as(``) is allowed when the name is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_IDENT = re.compile(r"[A-Za-z0-9_]*")


class TokenTable:
    """Token ids by text: ``pure`` maps a text of identifier characters only to its tokens,
    ``lead`` maps the identifier characters a token starts with to the tokens that go on
    with something else (the empty key: tokens that start with no identifier character,
    special tokens included)."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.texts: list[str] = []
        pure: dict[str, list[int]] = {}
        lead: dict[str, list[int]] = {}
        for token, piece in enumerate(pieces):
            text = piece.decode("utf-8", "replace")
            self.texts.append(text)
            ident = _IDENT.match(text).group()  # type: ignore[union-attr]
            if text and ident == text:
                pure.setdefault(ident, []).append(token)
            else:
                lead.setdefault(ident, []).append(token)
        self.pure = {k: np.array(v, dtype=np.intp) for k, v in pure.items()}
        self.lead = {k: np.array(v, dtype=np.intp) for k, v in lead.items()}

    def __len__(self) -> int:
        return len(self.texts)


class IdentifierConstraint:
    """A logits processor (``(input_ids, scores) -> scores``) for prompts of ``prompt_len``
    tokens: the output must start with one of ``names`` followed by a non-identifier
    character or the end (an empty name allows stopping, or going on with anything that is
    not an identifier character, at once)."""

    def __init__(self, table: TokenTable, names: Sequence[str], prompt_len: int) -> None:
        self.table = table
        self.names = sorted(set(names))
        self.prompt_len = prompt_len
        self.done = not self.names

    def allowed(self, generated: str) -> np.ndarray | None:
        """The token ids allowed after ``generated``; None once the constraint is over."""
        partial = _IDENT.match(generated).group()  # type: ignore[union-attr]
        if partial != generated:
            return None  # the identifier ended: nothing more to enforce
        parts: list[np.ndarray] = []
        for name in self.names:
            if not name.startswith(partial):
                continue
            rest = name[len(partial) :]
            for k in range(1, len(rest) + 1):
                found = self.table.pure.get(rest[:k])
                if found is not None:
                    parts.append(found)
            found = self.table.lead.get(rest)
            if found is not None:
                parts.append(found)
        if not parts:
            return None  # off every name (cannot happen when enforced from the start)
        return np.unique(np.concatenate(parts))

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.done:
            return scores
        generated = "".join(
            self.table.texts[int(t)]
            for t in input_ids[self.prompt_len :]
            if 0 <= int(t) < len(self.table)
        )
        allowed = self.allowed(generated)
        if allowed is None:
            self.done = True
            return scores
        out = np.full_like(scores, -np.inf)
        allowed = allowed[allowed < len(scores)]
        out[allowed] = scores[allowed]
        return out
