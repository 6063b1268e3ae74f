"""``codeslm gen "instruction"``: stream generated code; optionally write it to a file safely."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..documents import language_for, normalise_language
from ..errors import InputError
from ..fileio import atomic_write, read_text_if_exists, unified_diff, write_target
from ..generate import (
    CodeExtractor,
    GenerationStats,
    build_messages,
    extract_code,
    stream_generation,
)
from ..redaction import redact_restorable
from ..session import open_session
from . import common
from .render import StreamPrinter

MAX_STDIN_CHARS = 60_000


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "gen",
        parents=parents,
        help="generate code from an instruction",
        description="Generate code from an instruction. Text piped on stdin is given to the "
        "model as context.",
    )
    p.add_argument("instruction", nargs="+", help="what to write")
    p.add_argument("--lang", "-l", help="language (default: from --output, else python)")
    p.add_argument("--output", "-o", help="write the code to this file (after showing a diff)")
    p.add_argument("-x", "--extract", action="store_true", help="print only the code")
    p.add_argument("--yes", "-y", action="store_true", help="write --output without asking")
    p.add_argument("--max-tokens", type=int, help="limit the generated tokens")
    p.add_argument("--stats", action="store_true", help="print tokens and timing to stderr")
    p.set_defaults(run=run)


def _read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    data = sys.stdin.read(MAX_STDIN_CHARS + 1)
    if len(data) > MAX_STDIN_CHARS:
        raise InputError(
            f"stdin has more than {MAX_STDIN_CHARS:,} characters of context",
            hint="pipe in only the relevant part",
        )
    if "\x00" in data:
        raise InputError("stdin looks like binary data, not text")
    return data


def run(args: argparse.Namespace) -> int:
    extra = {"gen.max_tokens": args.max_tokens} if args.max_tokens else {}
    config = common.load(args, **extra).config
    instruction = " ".join(args.instruction).strip()
    output = Path(args.output) if args.output else None
    language = (
        normalise_language(args.lang) or (language_for(output) if output else None) or "python"
    )
    old_text = read_text_if_exists(output) if output else None
    if output is not None and output.exists() and not args.yes and not _interactive():
        raise InputError(
            f"{output} exists and there is no terminal to confirm overwriting it; nothing written",
            hint="pass --yes to overwrite",
        )
    # Piped context may hold secrets: they are replaced by numbered markers for the model and
    # put back into the code written to --output (the streamed answer shows the markers).
    context = redact_restorable(_read_stdin())
    messages = build_messages(instruction, language=language, context=context.text)
    color = common.color_enabled(sys.stdout)
    printer = StreamPrinter(sys.stdout, color=color and not args.extract, language=language)
    extractor = CodeExtractor() if args.extract else None
    stats = GenerationStats()
    started = time.perf_counter()

    async def body() -> str:
        parts: list[str] = []
        async with open_session(config) as session:
            async for text in stream_generation(session.backend, messages, config, stats):
                parts.append(text)
                if extractor is not None:
                    printer.write(extractor.feed(text))
                else:
                    printer.write(text)
        return "".join(parts)

    answer = common.run(body)
    if extractor is not None:
        printer.write(extractor.finish())
    printer.close()
    elapsed = time.perf_counter() - started
    if args.stats or common.stderr_is_tty():
        _print_stats(stats, elapsed)
    if stats.finish_reason == "length":
        common.note("note: the answer hit the token limit and may be cut off (--max-tokens)")
    if output is not None:
        code = context.restore(extract_code(answer))
        return _write_output(output, code, old_text, assume_yes=args.yes)
    return 0


def _print_stats(stats: GenerationStats, elapsed: float) -> None:
    usage = stats.usage
    if usage is None or not usage.completion_tokens:
        common.note(f"[{elapsed:.2f} s]")
        return
    gen_s = (usage.total_s or elapsed) - (usage.time_to_first_token_s or 0.0)
    rate = usage.completion_tokens / gen_s if gen_s > 0 else 0.0
    common.note(
        f"[{usage.prompt_tokens} prompt + {usage.completion_tokens} generated tokens, "
        f"first token {usage.time_to_first_token_s or 0:.2f} s, {rate:.1f} tokens/s, "
        f"total {elapsed:.2f} s]"
    )


def _interactive() -> bool:
    """A person can answer: stderr is a terminal and /dev/tty can be opened."""
    if not sys.stderr.isatty():
        return False
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _write_output(path: Path, code: str, old_text: str | None, *, assume_yes: bool) -> int:
    if not code.strip():
        raise InputError("the model produced no code; nothing was written")
    if old_text == code:
        common.note(f"{path} already has this content; nothing to write")
        return 0
    diff = unified_diff(old_text, code, path, write_target(path)[1])
    sys.stderr.write(diff if diff.endswith("\n") else diff + "\n")
    if not assume_yes:
        if not _interactive():
            if old_text is not None:
                raise InputError(f"{path} exists; pass --yes to overwrite it (nothing written)")
        else:
            answer = _ask(f"write {path}? [y/N] ")
            if answer not in {"y", "yes"}:
                common.note("not written")
                return 1
    atomic_write(path, code, expected_old=old_text)
    common.note(f"wrote {path}")
    return 0


def _ask(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        # Read the answer from the terminal: stdin may be the piped-in context.
        with open("/dev/tty") as tty:
            return tty.readline().strip().lower()
    except (OSError, KeyboardInterrupt):
        return ""
