"""FIM formats: every family renders as pinned, and detection uses the vocabulary."""

from __future__ import annotations

import pytest

from codeslm import fim
from codeslm.errors import PromptError
from codeslm.fim import ContextFile
from tests.golden import check_golden

PREFIX = "def area(r):\n    return "
SUFFIX = "\n\nprint(area(2))\n"
FILES = (
    ContextFile("geometry/consts.py", "PI = 3.14159\n"),
    ContextFile("geometry/util.py", "def sq(x):\n    return x * x"),
)


@pytest.mark.parametrize("name", list(fim.load_formats()))
def test_every_format_renders_as_pinned(name: str) -> None:
    fmt = fim.get_format(name)
    plain = fmt.render(PREFIX, SUFFIX)
    with_context = fmt.render(
        PREFIX, SUFFIX, path="geometry/circle.py", files=FILES, repo_name="shapes"
    )
    stops = "\n".join(fmt.stop)
    check_golden(
        f"fim/{name}.txt",
        f"## plain\n{plain}\n## with context\n{with_context}\n## stops\n{stops}\n",
    )
    if fmt.supports_fim:
        assert PREFIX in plain and SUFFIX in plain
    else:
        assert SUFFIX not in plain and plain.endswith(PREFIX)


def test_qwen_repo_level_layout() -> None:
    fmt = fim.get_format("qwen2.5-coder")
    text = fmt.render(PREFIX, SUFFIX, path="geometry/circle.py", files=FILES, repo_name="shapes")
    assert text.startswith("<|repo_name|>shapes\n<|file_sep|>geometry/consts.py\nPI = 3.14159\n")
    assert "<|file_sep|>geometry/circle.py\n<|fim_prefix|>" + PREFIX in text
    assert text.endswith(SUFFIX + "<|fim_middle|>")


def _vocab(*tokens: str):
    single = set(tokens)
    return lambda text: 1 if text in single else 5


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (
            ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>"),
            "qwen2.5-coder",
        ),
        (("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"), "codegemma"),
        (
            ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>"),
            "starcoder2",
        ),
        (("<fim_prefix>", "<fim_suffix>", "<fim_middle>"), "starcoder"),
        (("<fim-prefix>", "<fim-suffix>", "<fim-middle>"), "santacoder"),
        (("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"), "deepseek-coder"),
        (("▁<PRE>", "▁<SUF>", "▁<MID>"), "codellama"),
        (("[SUFFIX]", "[PREFIX]"), "codestral"),
        (("<repo_name>", "<file_sep>"), "prefix-only"),  # SmolLM2: repo tokens but no FIM
        ((), "prefix-only"),
    ],
)
def test_detection_from_vocabulary(tokens: tuple[str, ...], expected: str) -> None:
    assert fim.detect_format(_vocab(*tokens)).name == expected


def test_unknown_format_name() -> None:
    with pytest.raises(PromptError, match="unknown FIM format"):
        fim.get_format("gpt-9")
