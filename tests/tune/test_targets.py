"""What the loss covers: the hidden text, with or without the end-of-text token after it."""

from __future__ import annotations

from codeslm.cli import build_parser
from codeslm.tune import train
from codeslm.tune.examples import Example

EOS = 99


class CharTokenizer:
    """One token per character (its code point): enough to check the layout of an example."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        assert not add_special_tokens
        return [ord(c) for c in text]


def _example(target: str) -> Example:
    return Example("a.py", 1, 0, "<p>x = <s>\n<m>", target, "api")


def test_the_target_ends_with_the_end_token_unless_none_is_given() -> None:
    tok = CharTokenizer()
    [(ids, prompt_len)] = train.tokenize([_example("v1")], tok, 512, EOS)
    assert prompt_len == len("<p>x = <s>\n<m>")
    assert ids[prompt_len:] == [ord("v"), ord("1"), EOS]
    [(ids, prompt_len)] = train.tokenize([_example("v1")], tok, 512, None)
    assert ids[prompt_len:] == [ord("v"), ord("1")]  # the hidden text only


def test_an_empty_target_without_an_end_token_is_dropped_not_a_zero_token_loss() -> None:
    tok = CharTokenizer()
    assert train.tokenize([_example("")], tok, 512, None) == []
    assert len(train.tokenize([_example("")], tok, 512, EOS)) == 1  # learns to end at once


def test_the_cli_flag_turns_the_end_token_off() -> None:
    parser = build_parser()
    assert parser.parse_args(["tune", "."]).end_token is True
    assert parser.parse_args(["tune", ".", "--no-end-token"]).end_token is False
