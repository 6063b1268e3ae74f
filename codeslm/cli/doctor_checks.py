"""Health checks behind ``codeslm doctor``: model file, one real decode in a subprocess,
runtime, FIM tokens, measured speed.

Each check yields a :class:`Check`; the CLI only prints them. Checks stop at the first failure
that makes the later ones meaningless (no model -> no speed test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from .. import fim, stats
from ..backends.base import Backend
from ..config import Config, machine_fit
from ..errors import CodeslmError
from ..types import GenerationRequest, HealthStatus

# Real code (from the standard library's textwrap) used to time prefill and decoding.
_SPEED_PROMPT = '''import re

class TextWrapper:
    """Object for wrapping/filling text."""

    unicode_whitespace_trans = dict.fromkeys(map(ord, ' \\t\\n\\x0b\\x0c\\r'), ord(' '))
    word_punct = r'[\\w!"\\'&.,?]'
    letter = r'[^\\d\\W]'

    def __init__(self, width=70, initial_indent="", subsequent_indent="",
                 expand_tabs=True, replace_whitespace=True, fix_sentence_endings=False,
                 break_long_words=True, drop_whitespace=True, break_on_hyphens=True,
                 tabsize=8, *, max_lines=None, placeholder=' [...]'):
        self.width = width
        self.initial_indent = initial_indent
        self.subsequent_indent = subsequent_indent
        self.expand_tabs = expand_tabs
        self.replace_whitespace = replace_whitespace
        self.fix_sentence_endings = fix_sentence_endings
        self.break_long_words = break_long_words
        self.drop_whitespace = drop_whitespace
        self.break_on_hyphens = break_on_hyphens
        self.tabsize = tabsize
        self.max_lines = max_lines
        self.placeholder = placeholder

    def _munge_whitespace(self, text):
        """Munge whitespace in text: expand tabs and convert all other whitespace characters
        to spaces."""
        if self.expand_tabs:
            text = text.expandtabs(self.tabsize)
        if self.replace_whitespace:
            text = text.translate(self.unicode_whitespace_trans)
        return text

    def _split(self, text):
'''

# A second, unrelated prompt of about the same length (nothing of it is in the cache after the
# first), so that the speed is measured twice. Written for codeslm.
_SPEED_PROMPT_2 = '''from collections import OrderedDict
from dataclasses import dataclass, field
from time import monotonic


@dataclass
class Entry:
    """A cached value with the time it expires (monotonic seconds)."""

    value: object
    expires: float
    hits: int = 0


@dataclass
class ExpiringCache:
    """At most ``capacity`` values, each kept for ``ttl`` seconds; least recently used first
    to go when full."""

    capacity: int = 128
    ttl: float = 60.0
    entries: OrderedDict = field(default_factory=OrderedDict)

    def get(self, key, default=None):
        entry = self.entries.get(key)
        if entry is None:
            return default
        if entry.expires < monotonic():
            del self.entries[key]
            return default
        entry.hits += 1
        self.entries.move_to_end(key)
        return entry.value

    def put(self, key, value):
        self.entries[key] = Entry(value, monotonic() + self.ttl)
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def purge(self):
        now = monotonic()
        for key in [k for k, e in self.entries.items() if e.expires < now]:
            del self.entries[key]

    def stats(self):
'''


@dataclass(frozen=True, slots=True)
class Speed:
    prompt_tokens: int
    prefill_tps: float
    decode_tps: float


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report. ``ok`` is None for information that is neither good nor bad;
    ``speed`` is set on the line of the speed measurement."""

    name: str
    ok: bool | None
    detail: str
    speed: Speed | None = None


def verdict(speed: Speed) -> str:
    """One line: what completion latency to expect from the measured speed."""
    cold = 1000 / speed.prefill_tps + 16 / speed.decode_tps
    typing = machine_fit.keystroke_seconds(speed.prefill_tps, speed.decode_tps)
    level = ("good" if typing <= machine_fit.KEYSTROKE_BAR_S
             else "usable" if typing <= 2.5 * machine_fit.KEYSTROKE_BAR_S else "slow")
    advice = {
        "good": "completions while typing will feel responsive",
        "usable": "fine for invoked completions; automatic ones will lag a little",
        "slow": "use a smaller model or a GPU server (--backend vllm)",
    }[level]
    return (f"{level}: a keystroke that needs the model takes ~{typing:.2f} s while typing, "
            f"~{cold:.1f} s for a cold 1,000-token prompt; {advice}")


async def measure_speed(backend: Backend) -> Speed:
    """Time two unrelated cold prompts, each with a 48-token generation, and keep the faster.

    One measurement is at the mercy of whatever else runs for those seconds: two in a row on
    the same machine gave 0.64 and 0.54 s per keystroke for the 1.5B, on either side of the
    bar that decides the default model (benchmarks/RESULTS.md, issue 15 stop 20).
    """
    first = await _measure_once(backend, _SPEED_PROMPT)
    second = await _measure_once(backend, _SPEED_PROMPT_2)
    return min(
        first,
        second,
        key=lambda s: machine_fit.keystroke_seconds(s.prefill_tps, s.decode_tps),
    )


async def _measure_once(backend: Backend, prompt: str) -> Speed:
    result = await backend.generate(
        GenerationRequest(prompt=prompt, max_tokens=48, temperature=0.0)
    )
    usage = result.usage
    prompt_tokens = usage.prompt_tokens or len(await backend.tokenize(prompt))
    ttft = usage.time_to_first_token_s or usage.total_s or 1.0
    total = usage.total_s or ttft
    new_tokens = max(1, prompt_tokens - (usage.cached_prompt_tokens or 0))
    generated = max(1, (usage.completion_tokens or 1) - 1)
    decode_s = max(total - ttft, 1e-3)
    return Speed(prompt_tokens, new_tokens / max(ttft, 1e-3), generated / decode_s)


async def run_checks(
    config: Config, backend: Backend, *, speed: bool = True
) -> AsyncIterator[Check]:
    """The doctor's checks, in order."""
    yield Check("backend", None, f"{config.backend} (model {config.model})")
    in_use = stats.doctor_line()  # what completions cost in real use, from the local stats
    if in_use is not None:
        yield Check("in use", None, in_use)
    if config.backend == "llama-cpp":
        async for check in _embedded_checks(config):
            yield check
            if check.ok is False:
                return
    started = time.perf_counter()
    health = await backend.health()
    ok = health.status in (HealthStatus.READY, HealthStatus.SLOW)
    yield Check("loads", ok, f"{health.status.value}: {health.detail} "
                f"({time.perf_counter() - started:.2f} s)")
    if not ok:
        return
    try:
        info = await backend.model_info()
        yield Check(
            "model info", None, f"{info.name}, context window {info.context_length:,} tokens"
        )
        counts = {tok: len(await backend.tokenize(tok))
                  for f in fim.load_formats().values() for tok in f.detect}
        fmt = fim.detect_format(lambda tok: counts[tok])
        if fmt.supports_fim:
            ids = [(await backend.tokenize(tok))[0] for tok in fmt.detect]
            yield Check("FIM tokens", True, f"{fmt.name}: " + ", ".join(
                f"{tok}={i}" for tok, i in zip(fmt.detect, ids, strict=True)))
        else:
            yield Check("FIM tokens", False, "none in the vocabulary: prefix-only completion "
                        "(the code after the cursor is not seen)")
        extra = await backend.diagnostics()
        for name, detail in extra.items():
            yield Check(name, None, detail)
        if speed:
            measured = await measure_speed(backend)
            yield Check("speed", None, f"prefill {measured.prefill_tps:,.0f} tokens/s, "
                        f"generation {measured.decode_tps:,.1f} tokens/s "
                        f"({measured.prompt_tokens}-token prompt)", speed=measured)
            line = verdict(measured)
            # Slow is a finding, not a failure: the setup works, it is just slow here.
            yield Check("verdict", None if line.startswith("slow") else True, line)
    except CodeslmError as exc:
        yield Check("backend", False, str(exc))


async def _embedded_checks(config: Config) -> AsyncIterator[Check]:
    from ..runtime.models import gguf
    from ..runtime.models.resolve import resolve

    try:
        resolved = resolve(config.model)
        header = gguf.read_header(resolved.path)
    except CodeslmError as exc:
        yield Check("model", False, f"{exc}" + (f" ({exc.hint})" if exc.hint else ""))
        return
    size = resolved.path.stat().st_size
    yield Check("model", True, f"{resolved.name}: {resolved.path} ({size / 1e6:,.0f} MB, "
                f"verified, from {resolved.source}); GGUF '{header.name}', {header.architecture}")
    # codeslm tune (issue 17): the LoRA adapter completion.adapter loads here, if any
    from ..tune.store import describe

    adapter = describe(config.completion.adapter, resolved.path)
    yield Check("adapter", False if adapter.startswith("refused") else None, adapter)
    yield await _decode_check(config, resolved.path)


async def _decode_check(config: Config, model: Path) -> Check:
    """One real decode in a child process, so a runtime that segfaults here is reported, not
    suffered (the in-process checks after it would die with it)."""
    from ..config import effective_threads
    from ..runtime import runtime_check

    if runtime_check.library_dir() is None:
        return Check("decode", False, "llama-cpp-python is not installed; install it for this "
                     f"CPU with: {runtime_check.FIX}")
    verdict = await asyncio.to_thread(
        runtime_check.check, model, threads=effective_threads(config),
        n_batch=config.n_batch, fresh=True)
    if verdict.ok:
        return Check("decode", True, f"one real decode in a subprocess: {verdict.detail}")
    if verdict.ok is False:
        return Check("decode", False, f"{verdict.error()}; fix: {runtime_check.FIX}")
    return Check("decode", False, f"{verdict.detail}; reinstall with: {runtime_check.FIX}")
