"""Raw model output -> the completion worth showing. Pure; every surface calls :func:`postprocess`.

Order of the rules (each one only ever shortens or re-indents the text):

1. clean: CRLF to LF, anything after a leftover FIM sentinel or a Markdown code fence (an
   instruction-tuned model slipping into chat: code it wraps in a fence is kept, the fences
   never), leading blank lines when the cursor starts a line, and (after a token-limit stop)
   an unfinished last line;
2. indentation made consistent with the surrounding code (double indentation, tabs/spaces);
   a restatement of the code before the cursor dropped (``await `` + ``await f()``);
3. single line: the first line (a call the model spread over lines joined back onto it when
   it fits the line); nothing if it repeats the next line; minus what repeats the
   rest of the cursor's line; cut at the token boundary that leaves the fewest syntax errors,
   closing brackets it opened when that parses; moved to another indentation when only that
   makes the file parse;
4. multi-line: repetition loops dropped; kept inside the cursor's code unit (function,
   method); cut where it starts repeating the lines after the cursor; cut at the line end that
   leaves the fewest syntax errors (trying other indentations of the block);
5. both: cut before a ``return``/``raise``/``break`` that would make the code after the
   cursor unreachable.

"Syntax errors" are tree-sitter ERROR/MISSING nodes of ``prefix + completion + suffix``, plus,
for Python, CPython's own parser (tree-sitter tolerates bad indentation).
"""

from __future__ import annotations

import re

from ..types import CompletionMode
from . import indent
from .brackets import MAX_JOINED_COLUMNS, closing_line, join_spread_call
from .hole import Hole, indentation, is_closer_line
from .prefix import drop_prefix_repeat
from .reachability import unreachable_cut
from .repetition import repetition_cut
from .scope import scope_cut
from .suffix import anchor_cut, trim_line_overlap
from .truncate import SyntaxJudge, best_cut, line_candidates, token_candidates

_SENTINEL = re.compile(r"<\|(fim_[a-z]+|file_sep|repo_name|endoftext|im_end|im_start)\|>"
                       r"|<(fim_[a-z]+|file_sep|repo_name)>|<fim-[a-z]+>")
_FENCE = re.compile(r"^[ \t]*```[\w+#.-]*[ \t]*$", re.MULTILINE)
_FENCED_LANGUAGES = frozenset({"markdown", "markdown_inline", "rst"})


def _drop_fences(text: str) -> str:
    """``text`` without Markdown code fences: a leading fence opens code that is kept up to
    the closing one; any later fence ends the completion."""
    found = _FENCE.search(text)
    if found is None:
        return text
    if text[: found.start()].strip():
        return text[: found.start()]
    body = text[found.end() + 1:] if found.end() < len(text) else ""
    closing = _FENCE.search(body)
    return body[: closing.start()] if closing else body


def clean(raw: str, hole: Hole) -> str:
    """Normalise line ends, drop anything after a leftover FIM sentinel, and drop leading blank
    lines when the cursor is at the start of its line."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    found = _SENTINEL.search(text)
    if found:
        text = text[: found.start()]
    if hole.language not in _FENCED_LANGUAGES and "```" in text:
        text = _drop_fences(text)
    if hole.at_line_start:
        while "\n" in text and not text[: text.index("\n")].strip():
            text = text[text.index("\n") + 1 :]
    return text


def postprocess(
    raw: str,
    *,
    prefix: str,
    suffix: str,
    mode: CompletionMode,
    language: str | None = None,
    truncated: bool = False,
) -> str:
    """The completion to insert at the cursor between ``prefix`` and ``suffix``.

    ``mode`` must be decided (not AUTO); ``language`` (a tree-sitter name) enables the
    syntax-aware rules; ``truncated`` says the generation hit its token limit, so a last line
    without a newline is unfinished and dropped from a multi-line completion. Line ends
    follow the document's (CRLF when it uses CRLF).
    """
    if mode is CompletionMode.AUTO:
        raise ValueError("postprocess needs a decided mode, not AUTO")
    hole = Hole(prefix, suffix, language, mode)
    text = clean(raw, hole)
    if truncated and mode is CompletionMode.MULTI_LINE and "\n" in text.strip():
        text = text[: text.rstrip().rfind("\n")]
    text = indent.normalise(text, hole)
    if not hole.at_line_start:
        text = drop_prefix_repeat(text, hole.before)
    if mode is CompletionMode.SINGLE_LINE:
        text = _single_line(text, hole).rstrip()
    else:
        text = _multi_line(text, hole)
    if hole.uses_crlf:
        text = text.replace("\n", "\r\n")
    return text


def _single_line(text: str, hole: Hole) -> str:
    call = _spread_call(text, hole)
    joined = None
    if call is not None:
        joined = join_spread_call(text, hole.before)
        if joined is not None and \
                len(hole.before) + len(joined) + len(hole.after) > MAX_JOINED_COLUMNS:
            joined = None
    judge = SyntaxJudge(hole)  # one per hole: it parses the file and caches what it saw
    line = _one_line(joined or text.split("\n", 1)[0].rstrip(), hole, judge)
    if call is None or joined is not None or hole.after.strip() or not line:
        return line  # nothing to spread, joined, code after the cursor, or nothing wanted
    # The call does not fit on one line (or holds a comment or a multi-line string): offer it
    # as the model wrote it, over several lines, rather than cut to its first line's name.
    if judge.available and judge.errors(call) > judge.errors(line):
        return line
    return call


def _one_line(line: str, hole: Hole, judge: SyntaxJudge) -> str:
    if not line.strip():
        return ""
    if hole.at_line_start and hole.next_lines and (
        (hole.before + line).rstrip() == hole.next_lines[0].rstrip() and len(line.strip()) >= 6
    ):
        return ""  # the model skipped the hole and wrote the next line again
    trimmed = trim_line_overlap(line, hole.after)
    if trimmed != line and judge.available and judge.errors(line) < judge.errors(trimmed):
        trimmed = line  # the parser says the "repeat" belongs to the completion
    line = trimmed
    if not line.strip():
        return ""
    if judge.available:
        line = best_cut(token_candidates(line), judge) or line
        if judge.errors(line):
            # The model's indentation may be what breaks the code: take another indentation
            # when it has fewer errors and adds none to the file with the hole left empty.
            moved = [c for c in indent.reindent_candidates(line, hole)
                     if not judge.added(c) and judge.errors(c) < judge.errors(line)]
            line = min(moved, key=judge.errors, default=line)
    if hole.at_line_start and not unreachable_cut([line], hole):
        return ""  # a return here would make the code below dead
    return line


def _spread_call(text: str, hole: Hole) -> str | None:
    """The call the model spread over lines (its first line up to the line that closes its
    brackets, see :func:`~codeslm.completion.brackets.closing_line`), or None when the first
    line closes its own brackets, they stay open, the code below the cursor already
    continues the line (indented deeper, a closing bracket) or is what the model wrote next
    (the hole is the first line of a call already spread there). Single-line mode shows it
    joined onto the line when it fits ``MAX_JOINED_COLUMNS``, else as several lines."""
    last = closing_line(text)
    if not last:
        return None
    lines = text.split("\n")
    if hole.below_continues(lines[0]):
        return None  # the rest of the call is already there
    second = next((line.strip() for line in lines[1:] if line.strip()), "")
    if hole.next_lines and second == hole.next_lines[0].strip():
        return None
    return "\n".join(line.rstrip() for line in lines[: last + 1])


def _multi_line(text: str, hole: Hole) -> str:
    """Multi-line rules; the result has no trailing whitespace except a block completed in
    the middle of a line, which ends with a newline and the line's indentation."""
    lines = text.split("\n")
    lines = lines[: repetition_cut(lines)]
    lines = lines[: scope_cut(lines, hole)]
    judge = SyntaxJudge(hole)
    found = anchor_cut(lines, hole)
    if found is not None:
        index, certain = found
        cut = "\n".join(lines[:index]).rstrip()
        if certain:
            lines = lines[:index]
        elif judge.available:
            if judge.errors(cut) <= judge.errors("\n".join(lines).rstrip()):
                lines = lines[:index]
        elif all(is_closer_line(line) for line in lines[index:] if line.strip()):
            lines = lines[:index]
    text = "\n".join(lines).rstrip()
    if hole.after.strip():
        text = trim_line_overlap(text, hole.after)
    if not text.strip():
        return ""
    if hole.after.strip() and "\n" in text.rstrip():
        # Code follows the cursor on its line ({|}): it goes on its own line after the block.
        return _block_then_rest(text, hole, judge)
    if judge.available:
        whole = text
        text = best_cut(line_candidates(whole), judge) or whole
        if judge.errors(text) > 0 or text != whole:
            # The model's indentation may be what breaks the code: try moving the block, and
            # keep the version with the fewest errors, then the most lines, then the model's.
            options = [text]
            for moved in indent.reindent_candidates(whole, hole):
                moved_cut = best_cut(line_candidates(moved), judge)
                if moved_cut is not None and not judge.added(moved_cut):
                    options.append(moved_cut)
            text = min(options, key=lambda c: (judge.errors(c), -c.count("\n")))
    return _keep_reachable(text.rstrip(), hole, judge)


def _keep_reachable(text: str, hole: Hole, judge: SyntaxJudge) -> str:
    """Cut before a line that would make the code after the cursor dead (after the
    indentation is settled), then re-check the syntax of what is left."""
    lines = text.split("\n")
    keep = unreachable_cut(lines, hole)
    if keep == len(lines):
        return text
    text = "\n".join(lines[:keep]).rstrip()
    if text.strip() and judge.available:
        text = best_cut(line_candidates(text), judge) or text
    return text if text.strip() else ""


def _block_then_rest(text: str, hole: Hole, judge: SyntaxJudge) -> str:
    """A multi-line completion in the middle of a line: cut at whole lines, then end with a
    newline and the cursor line's indentation so the rest of the line keeps its place."""
    if judge.available:
        text = best_cut(line_candidates(text), judge) or text
    return text.rstrip() + "\n" + indentation(hole.before)
