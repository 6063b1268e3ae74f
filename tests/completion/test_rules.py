"""Unit tests of the individual post-processing rules and helpers."""

from __future__ import annotations

import pytest

from codeslm.completion import Hole, postprocess
from codeslm.completion.brackets import unclosed
from codeslm.completion.cache import PromptCache, TypedAheadCache
from codeslm.completion.deadline import ThroughputTracker, shared_prefix
from codeslm.completion.repetition import repetition_cut
from codeslm.completion.scope import enclosing_header, scope_cut
from codeslm.completion.stopping import StreamStopper
from codeslm.completion.suffix import anchor_cut, line_overlap, unmatched_closers
from codeslm.completion.syntax import errors_in, parser_for
from codeslm.completion.truncate import SyntaxJudge, token_candidates
from codeslm.types import CompletionMode

SINGLE, MULTI = CompletionMode.SINGLE_LINE, CompletionMode.MULTI_LINE


@pytest.mark.parametrize(
    "language", ["python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"]
)
def test_every_bundled_grammar_loads_and_counts_errors(language: str) -> None:
    assert parser_for(language) is not None
    found = errors_in(language, "(((")
    assert found is not None and found.count > 0


def test_unknown_language_has_no_parser_and_skips_syntax_rules() -> None:
    assert parser_for("cobol") is None and errors_in(None, "x") is None
    out = postprocess("foo(bar\nbaz", prefix="x = ", suffix="\n", mode=SINGLE, language="cobol")
    assert out == "foo(bar"


def test_unclosed_brackets_ignore_strings_and_prefix_closers() -> None:
    assert unclosed("f(a, [b") == "])"
    assert unclosed("f(')')") == ""
    assert unclosed("x) + g(") == ")"
    assert unmatched_closers("a, b))") == 2 and unmatched_closers("f(x)") == 0


@pytest.mark.parametrize(
    ("text", "after", "overlap"),
    [
        ("a, b)", ")", 1),
        ("f(x)", ")", 0),
        ("a):", "):", 2),
        ("x", "", 0),
        ("a)", "):", 1),
        ("x = 1", "= 1", 3),
    ],
)
def test_line_overlap(text: str, after: str, overlap: int) -> None:
    assert line_overlap(text, after) == overlap


def test_anchor_cut_certain_and_uncertain() -> None:
    hole = Hole("def f():\n", "\n    return total\n", "python")
    assert anchor_cut(["    total = 1", "    return total"], hole) == (1, True)
    brace = Hole("function f() {\n", "\n}\n", "javascript")
    assert anchor_cut(["  g();", "}"], brace) == (1, False)
    assert anchor_cut(["  g();"], brace) is None


def test_repetition_cut() -> None:
    assert repetition_cut(["a = 1", "b()", "b()", "b()"]) == 2
    assert repetition_cut(["x = f(a)", "y = g(x)", "x = f(a)", "y = g(x)"]) == 2
    assert repetition_cut(["", "", "", ""]) == 4  # blank lines are not a loop
    assert repetition_cut(["i += 1", "i += 1"]) == 2  # twice is allowed


def test_scope_finds_the_enclosing_definition() -> None:
    hole = Hole("class A:\n    def f(self):\n        x = 1\n", "\n", "python")
    assert enclosing_header(hole, 8) == 4
    lines = ["        y = 2", "    def g(self):", "        pass"]
    assert scope_cut(lines, hole) == 1
    top = Hole("import os\n", "\n", "python")
    assert scope_cut(["x = 1", "y = 2", "", "z = 3"], top) == 2


def test_token_candidates_are_longest_first() -> None:
    cands = token_candidates("foo(a, b) + bar")
    assert cands[0] == "foo(a, b) + bar"
    assert "foo(a, b)" in cands and cands == sorted(cands, key=len, reverse=True)


def test_syntax_judge_uses_cpython_for_python_indentation() -> None:
    hole = Hole("def f(n):\n    for i in range(n):\n", "\n        print(i)\n", "python")
    judge = SyntaxJudge(hole)
    assert judge.added("        total = i") == 0
    assert judge.added("    total = i") > 0


def test_stopper_single_and_multi_line() -> None:
    single = StreamStopper(Hole("x = ", "\n", "python"), SINGLE)
    assert not single.should_stop("foo(")
    assert single.should_stop("foo(1)\nbar")
    at_start = StreamStopper(Hole("def f():\n", "\n", "python"), SINGLE)
    assert not at_start.should_stop("\n\n")  # blank lines first: not a line yet
    assert at_start.should_stop("\n    return 1\n")
    spread = StreamStopper(Hole("x = ", "\n", "python"), SINGLE)
    assert not spread.should_stop("Agent(\n    name='a',\n")  # the call is still open
    assert spread.should_stop("Agent(\n    name='a',\n)\n")
    literal = StreamStopper(Hole("x = ", "\n    'a': 1,\n}\n", "python"), SINGLE)
    assert literal.should_stop("{\n")  # the entries follow in the file: the line is done
    endless = StreamStopper(Hole("x = ", "\n", "python"), SINGLE)
    assert endless.should_stop("f(\n" + "    a,\n" * 9)  # too long to join: give up
    multi = StreamStopper(Hole("def f():\n", "\n\ndef g():\n    pass\n", "python"), MULTI)
    assert not multi.should_stop("    a = 1\n    b = 2\n")
    assert multi.should_stop("    a = 1\n    b = 2\n\n\ndef g():\n")
    assert multi.reason == "left the code unit"


def test_a_line_that_leaves_the_unit_stops_at_its_first_character() -> None:
    """The next function's ``def`` ends a multi-line completion at its first letter (its
    indentation decides), with the same result post-processing gives the whole line."""
    prefix, suffix = "def f(items):\n    return [\n        x for x in items\n", "\n\n\ndef g():\n"
    stopper = StreamStopper(Hole(prefix, suffix, "python"), MULTI)
    assert not stopper.should_stop("    ]\n\n\n")
    assert not stopper.should_stop("    ]\n\n\n   ")  # no character yet: no indentation
    assert stopper.should_stop("    ]\n\n\nd")
    assert stopper.reason == "left the code unit"
    whole = "    ]\n\n\ndef g():\n    pass\n"
    kept = postprocess("    ]\n\n\nd", prefix=prefix, suffix=suffix, mode=MULTI, language="python")
    assert kept == postprocess(whole, prefix=prefix, suffix=suffix, mode=MULTI, language="python")
    assert kept.strip() == "]"
    # A deeper line goes on; outside Python a closing brace at the header may be kept, so it
    # waits for the whole line.
    deeper = StreamStopper(Hole(prefix, suffix, "python"), MULTI)
    assert not deeper.should_stop("    ]\n    y")
    brace = StreamStopper(Hole("function f() {\n", "\n", "javascript"), MULTI)
    assert not brace.should_stop("  return 1;\n}")
    assert brace.should_stop("  return 1;\n}\n")


def test_typed_ahead_cache() -> None:
    cache = TypedAheadCache(per_document=2)
    text = "x = \ny = 2\n"
    cache.remember("a.py", text, 4, "compute(1)", "single-line")
    typed = "x = comp\ny = 2\n"
    assert cache.lookup("a.py", typed, 8) == ("ute(1)", "single-line")
    done = "x = compute(1)\ny = 2\n"
    assert cache.lookup("a.py", done, 14) is None  # typed to the end: nothing left to show
    assert cache.lookup("a.py", "x = cump\ny = 2\n", 8) is None
    assert cache.lookup("a.py", "x = comp\ny = 3\n", 8) is None
    cache.remember("a.py", text, 4, "b", "single-line")
    cache.remember("a.py", text, 4, "c", "single-line")
    assert cache.lookup("a.py", typed, 8) is None  # evicted (two per document)
    cache.forget("a.py")
    assert cache.lookup("a.py", text, 4) is None


def test_prompt_cache_is_a_bounded_lru() -> None:
    from codeslm.completion.cache import CachedResult

    cache = PromptCache(size=2)
    keys = [PromptCache.key("p", i) for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, CachedResult(str(i), str(i), "stop"))
    assert cache.get(keys[0]) is None and cache.get(keys[2]).text == "2"  # type: ignore[union-attr]
    assert len(cache) == 2


def test_throughput_tracker_budget() -> None:
    tracker = ThroughputTracker()
    assert tracker.max_tokens_for("p" * 1000, 1.0, floor=8, ceiling=64) == 64
    tracker.record("a" * 1000, 1.0, 20, 1.0)  # 1 ms per new char, 20 tokens/s
    assert tracker.decode_tokens_per_s == pytest.approx(20.0)
    # the same prompt again is cached: only the base latency counts
    assert tracker.max_tokens_for("a" * 1000, 1.0, floor=8, ceiling=64) == 20
    assert tracker.max_tokens_for("b" * 1000, 1.0, floor=8, ceiling=64) == 8
    assert shared_prefix("abcd", "abxy") == 2 and shared_prefix("", "a") == 0


def test_postprocess_rejects_auto_mode() -> None:
    with pytest.raises(ValueError):
        postprocess("x", prefix="", suffix="", mode=CompletionMode.AUTO)


def test_the_cursor_line_the_mode_the_overlap_and_the_first_line() -> None:
    from codeslm.completion import decide_mode
    from codeslm.completion.suffix import trim_line_overlap

    hole = Hole("a = f(", ")\nb")
    assert (hole.before, hole.after) == ("a = f(", ")")
    assert decide_mode(Hole("def f():\n", "\n", "python")) is MULTI
    assert trim_line_overlap("x)", ")") == "x"
    assert postprocess("1\n2", prefix="x = ", suffix="\n", mode=SINGLE) == "1"


def test_a_truncated_generation_loses_its_unfinished_last_line() -> None:
    prefix, suffix = "def f(xs):\n", "\n"
    raw = "    total = sum(xs)\n    return tot"
    kept = postprocess(
        raw, prefix=prefix, suffix=suffix, mode=MULTI, language="python", truncated=True
    )
    assert kept == "    total = sum(xs)"
    whole = postprocess(raw, prefix=prefix, suffix=suffix, mode=MULTI, language="python")
    assert whole == raw  # ended by the model: ``tot`` may be a real name


def test_unreachable_cut_keeps_returns_before_branches_and_closers() -> None:
    from codeslm.completion.reachability import unreachable_cut

    body = Hole("def f(x):\n", "\n    y = x + 1\n    return y\n", "python")
    assert unreachable_cut(["    if x:", "        return 0", "    return 1"], body) == 2
    branch = Hole("def f(x):\n    if x:\n", "\n    else:\n        return 1\n", "python")
    assert unreachable_cut(["        return 0"], branch) == 1
    js = Hole("function f(x) {\n", "\n}\n", "javascript")
    assert unreachable_cut(["  return x;"], js) == 1


def test_indent_unit_comes_from_block_openers() -> None:
    hole = Hole(
        'def f():\n    """Doc\n      odd\n     lines"""\n    if x:\n        y = 1\n', "\n", "python"
    )
    assert hole.indent_unit == "    "
    assert Hole("if (x) {\n\ty();\n", "\n", "c").indent_unit == "\t"
