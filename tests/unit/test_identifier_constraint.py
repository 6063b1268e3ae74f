"""The leading-identifier constraint on a small made-up vocabulary (the real model's is in
tests/integration/test_llamacpp_backend.py)."""

from __future__ import annotations

import numpy as np

from codeslm.backends.identifiers import IdentifierConstraint, TokenTable

VOCAB = [b"", b"final", b"_output", b"_as", b"(", b"to", b"_input", b"_list", b"()", b"x",
         b" =", b"final_output", b"final_output_as(", b"fin", b"\n", b"current", b"_turn"]


def _allowed(constraint: IdentifierConstraint, generated: list[int]) -> set[str]:
    ids = np.array([99] * 3 + generated)  # three prompt tokens, then the output
    scores = constraint(ids, np.zeros(len(VOCAB), dtype=np.float32))
    return {VOCAB[i].decode() for i in np.flatnonzero(np.isfinite(scores))}


def test_tokens_on_the_way_to_a_name_and_those_that_end_one() -> None:
    table = TokenTable(VOCAB)
    names = ["final_output", "final_output_as", "to_input_list"]
    constraint = IdentifierConstraint(table, names, 3)
    assert _allowed(constraint, []) == {"final", "fin", "to", "final_output",
                                        "final_output_as("}
    # "final" + "_output": a whole name, which may end or go on (not with another letter).
    after = _allowed(constraint, [1, 2])
    assert {"_as", "(", " =", "()", "\n", ""} <= after and "x" not in after and "_turn" not in after


def test_the_constraint_ends_with_the_identifier() -> None:
    table = TokenTable(VOCAB)
    constraint = IdentifierConstraint(table, ["to_input_list"], 3)
    assert _allowed(constraint, [5]) == {"_input"}
    assert len(_allowed(constraint, [5, 6, 7, 8])) == len(VOCAB)  # "()" ended it: all free
    assert constraint.done


def test_an_empty_name_allows_stopping_at_once() -> None:
    table = TokenTable(VOCAB)
    constraint = IdentifierConstraint(table, ["", "_as"], 3)
    allowed = _allowed(constraint, [])
    assert {"", "(", "\n", "_as"} <= allowed and "x" not in allowed


def test_the_grammar_for_llama_cpp_servers() -> None:
    from codeslm.backends.grammar import leading_identifier

    assert leading_identifier(["to_input_list", "final_output"]).splitlines()[0] == (
        'root ::= ("final_output" | "to_input_list") rest?')
    assert leading_identifier(["", "_as"]).startswith('root ::= ("_as")? rest?')
    assert leading_identifier([""]).startswith("root ::= rest?")
    try:
        leading_identifier(['x" | "y'])
    except ValueError:
        pass
    else:
        raise AssertionError("a name that is not an identifier must be refused")
