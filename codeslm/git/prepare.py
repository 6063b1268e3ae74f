"""The prepare-commit-msg policy: when to write a message, and how to put it in git's file.

git calls the hook with the message file and, when the message already has a source, that
source: ``message`` (``-m``/``-F``), ``template``, ``merge``, ``squash`` or ``commit``
(``--amend``, ``-c``, ``-C``). The pre-commit framework passes the source in
``PRE_COMMIT_COMMIT_MSG_SOURCE`` instead. A message is written only for a plain ``git commit``:
no source, an editor will open (git sets ``GIT_EDITOR=:`` when none will, e.g. ``--no-edit``),
and the file holds nothing but comments. Git's comment lines are kept below the message, so
the user sees the usual status and can still edit, or delete everything to abort.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MODES = ("message", "comment")
SCISSORS = "------------------------ >8 ------------------------"


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to write, and why not (one line for ``-v`` output)."""

    write: bool
    reason: str = ""


def decide(source: str | None, content: str, *, comment_char: str,
           environ: Mapping[str, str] | None = None) -> Decision:
    """Apply the policy of the module docstring to one hook call."""
    environ = os.environ if environ is None else environ
    source = source or environ.get("PRE_COMMIT_COMMIT_MSG_SOURCE") or ""
    if source:
        return Decision(False, f"git already has a message ({source})")
    if environ.get("GIT_EDITOR") == ":":
        return Decision(False, "no editor will open, so nobody could review a generated message")
    if user_text(content, comment_char):
        return Decision(False, "the message file already has text")
    return Decision(True)


def comment_char_for(configured: str | None, content: str) -> str:
    """The comment character git uses for this message (``core.commentChar``, ``auto`` too)."""
    if configured and configured != "auto":
        return configured[0]
    if configured == "auto":
        # git picked a character not used in the message; its status lines start with it.
        for line in reversed(content.splitlines()):
            if line.strip():
                return line[0]
    return "#"


def user_text(content: str, comment_char: str) -> str:
    """The non-comment text of a message file (what git would commit), above the scissors."""
    kept = []
    for line in content.splitlines():
        if line.startswith(comment_char):
            if SCISSORS in line:
                break
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def compose(original: str, message: str, notes: list[str], *, comment_char: str,
            mode: str = "message", origin: str = "") -> str:
    """The new message file: the message (or, in ``comment`` mode, a commented suggestion),
    codeslm's notes as comments, then git's original comment lines unchanged."""
    c = comment_char
    info = [f"{c} codeslm: {origin}".rstrip() if origin else f"{c} codeslm:"]
    if mode == "comment":
        info[0] += " suggestion below; uncomment the lines you want to keep."
        head = "\n" + info[0] + "\n" + "".join(f"{c} {line}".rstrip() + "\n"
                                               for line in message.split("\n"))
    else:
        info[0] += " edit this message, or delete it to abort the commit."
        head = message.rstrip("\n") + "\n\n" + info[0] + "\n"
    head += "".join(f"{c} codeslm: {note}\n" for note in notes)
    rest = original.lstrip("\n")
    return head + (("\n" if mode == "message" and rest else "") + rest if rest else "")
