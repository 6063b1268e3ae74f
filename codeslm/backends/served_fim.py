"""FIM format of a *served* model: from its tokenizer when the server has one, else its name.

codeslm always renders FIM prompts itself (vLLM rejects ``suffix``), so it must know the served
model's family. The exact answer comes from the vocabulary (every sentinel a single token, as
:func:`codeslm.fim.detect_format` does for the embedded model). Servers without a tokenizer
endpoint (Ollama) get a guess from the model name, logged, never silent. A short self-test
infill then checks that the model really fills a hole in that format.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from .. import fim
from ..errors import CodeslmError
from ..types import GenerationRequest
from .base import Backend

log = logging.getLogger(__name__)

# (pattern on the lower-cased model name, format name); first match wins, so the more
# specific names come first.
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"codeqwen", ""),  # CodeQwen1.5 uses other sentinels than Qwen2.5-Coder: no guess
    (r"qwen[-_ .]?(?:2\.5|3)[-_ .]?coder|qwen.*coder", "qwen2.5-coder"),
    (r"starcoder[-_ ]?2", "starcoder2"),
    (r"starcoder|starchat|octocoder", "starcoder"),
    (r"santacoder", "santacoder"),
    (r"deepseek[-_ ]?coder", "deepseek-coder"),
    (r"code[-_ ]?llama", "codellama"),
    (r"code[-_ ]?gemma", "codegemma"),
    (r"codestral", "codestral"),
)


def guess_format_from_name(model_name: str) -> str | None:
    """The FIM format a model name suggests, or None when the name is not recognised."""
    name = model_name.lower()
    formats = fim.load_formats()
    for pattern, fmt in _NAME_PATTERNS:
        if re.search(pattern, name):
            return fmt if fmt in formats else None
    return None


# A hole whose right answer is unambiguous for any code model.
_PREFIX = "def add(a, b):\n    return "
_SUFFIX = "\n\n\nprint(add(2, 3))\n"


@dataclass(frozen=True, slots=True)
class FimSelfTest:
    """Result of :func:`self_test`: ``ok`` plus one line for humans."""

    ok: bool
    detail: str
    text: str = ""


async def self_test(backend: Backend, fmt: fim.FimFormat, *, max_tokens: int = 12) -> FimSelfTest:
    """Ask the backend to fill a tiny hole in ``fmt``; report whether the answer is sane.

    Sane means: some text, none of the format's sentinels leaked into it, and the variables of
    the hole used (``a`` and ``b``). Backend errors are reported, not raised.
    """
    if not fmt.supports_fim:
        return FimSelfTest(
            False,
            f"{fmt.name}: the model has no FIM tokens; completion sees "
            "only the code before the cursor",
        )
    prompt = fmt.render(_PREFIX, _SUFFIX)
    request = GenerationRequest(
        prompt=prompt, max_tokens=max_tokens, temperature=0.0, stop=(*fmt.stop, "\n")
    )
    started = time.perf_counter()
    try:
        result = await backend.generate(request)
    except CodeslmError as exc:
        return FimSelfTest(False, f"{fmt.name}: the test infill failed: {exc}")
    elapsed = time.perf_counter() - started
    text = result.text
    leaked = [tok for tok in fmt.detect if tok in text]
    shown = repr(text.strip())[:60]
    if leaked:
        return FimSelfTest(
            False,
            f"{fmt.name}: sentinels {leaked} leaked into the answer "
            f"{shown}: the server is not parsing special tokens",
            text,
        )
    if not text.strip():
        return FimSelfTest(
            False,
            f"{fmt.name}: the model returned nothing for a test hole; it "
            "may not support this FIM format",
            text,
        )
    if not ("a" in text and "b" in text):
        return FimSelfTest(
            False,
            f"{fmt.name}: odd answer {shown} for `return <hole>` in "
            "add(a, b); FIM prompts may be misread",
            text,
        )
    return FimSelfTest(
        True, f"{fmt.name}: filled `return {text.strip()[:40]}` in {elapsed:.2f} s", text
    )
