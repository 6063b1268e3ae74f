"""Conventional Commits repair, style learning and the prepare-commit-msg policy (no model)."""

from __future__ import annotations

import pytest

from codeslm.git.conventional import is_valid, normalise, parse_header, type_for_paths
from codeslm.git.prepare import comment_char_for, compose, decide, user_text
from codeslm.git.repo import GitRepo
from codeslm.git.style import learn

from .conftest import Repo

GIT_TEMPLATE = (
    "\n# Please enter the commit message for your changes. Lines starting\n"
    "# with '#' will be ignored, and an empty message aborts the commit.\n#\n"
    "# On branch main\n# Changes to be committed:\n#\tnew file:   a.py\n#\n"
)


@pytest.mark.parametrize(("answer", "expected"), [
    ("feat: add a parser", "feat: add a parser"),
    ('"fix(cli): handle empty input."', "fix(cli): handle empty input"),
    ("Commit message: Fix: Handle empty diffs.", "fix: handle empty diffs"),
    ("```\nFeature(LSP): Add inline completion\n```", "feat(lsp): add inline completion"),
    ("Add a diff parser\n\nIt reads it.", "feat: add a diff parser\n\nIt reads it."),
    ("Update: the docs", "chore: update the docs"),
    ("**Subject:** refactor(git)!: split the module", "refactor(git)!: split the module"),
    ("docs(calc.py): explain sub", "docs(calc): explain sub"),
    ("", "chore: update files"),
    ("fix: make HTTP retries idempotent", "fix: make HTTP retries idempotent"),
])
def test_normalise(answer: str, expected: str) -> None:
    assert normalise(answer) == expected
    assert is_valid(normalise(answer))


def test_normalise_fits_72_and_drops_comment_lines() -> None:
    long = "feat(completion): " + "make the completion engine much faster " * 4
    message = normalise(long + "\n\n# not for git\nBody line.")
    subject, _, body = message.partition("\n\n")
    assert len(subject) <= 72 and subject.startswith("feat(completion): make")
    assert not subject.endswith(" ") and body == "Body line."
    assert normalise("feat: x", force_type="docs") == "docs: x"
    assert normalise("add things", scope="git", capitalise=True) == "feat(git): Add things"


def test_parse_header_and_types_from_paths() -> None:
    header = parse_header("fix(api)!: drop v1")
    assert header is not None and header.breaking and header.scope == "api"
    assert parse_header("no colon here") is None
    assert type_for_paths(["README.md", "docs/x.rst"]) == "docs"
    assert type_for_paths(["tests/test_a.py"]) == "test"
    assert type_for_paths([".github/workflows/ci.yml"]) == "ci"
    assert type_for_paths(["app.py", "README.md"]) is None


def test_style_is_learnt_from_history(repo: Repo) -> None:
    for i, subject in enumerate([
        "feat(git): add hook", "fix(git): keep comments", "docs: readme", "feat(lsp): Inline",
        "fix(lsp): cancel", "Merge branch 'x'", "chore(git): tidy",
    ]):
        repo.write(f"f{i}.txt", subject)
        repo.commit(subject)
    style = learn(GitRepo(repo.path).recent_commits())
    assert style.uses_conventional and style.commits == 6
    assert style.scopes["git"] == 3 and style.types["feat"] == 2
    assert style.scope_for(["codeslm/git/x.py", "codeslm/git/y.py"]) == "git"
    assert style.scope_for(["README.md"]) is None
    text = style.instructions(["codeslm/git/x.py"])
    assert "(git)" in text and "Scopes used here: git, lsp." in text
    assert "tidy" not in text  # earlier subjects are never shown: small models copy them


def test_non_conventional_history_gives_no_instructions(repo: Repo) -> None:
    for i in range(4):
        repo.write(f"f{i}", str(i))
        repo.commit(f"Tweak thing {i}")
    assert learn(GitRepo(repo.path).recent_commits()).instructions(["a"]) == ""


@pytest.mark.parametrize(("source", "env", "content", "write"), [
    ("", {}, GIT_TEMPLATE, True),
    (None, {"GIT_EDITOR": "vim"}, GIT_TEMPLATE, True),
    ("message", {}, "from -m\n" + GIT_TEMPLATE, False),
    ("template", {}, GIT_TEMPLATE, False),
    ("merge", {}, "Merge branch 'x'\n" + GIT_TEMPLATE, False),
    ("squash", {}, GIT_TEMPLATE, False),
    ("commit", {}, "old subject\n" + GIT_TEMPLATE, False),
    ("", {"PRE_COMMIT_COMMIT_MSG_SOURCE": "message"}, GIT_TEMPLATE, False),
    ("", {"GIT_EDITOR": ":"}, GIT_TEMPLATE, False),
    ("", {}, "someone wrote this\n" + GIT_TEMPLATE, False),
])
def test_policy(source: str | None, env: dict[str, str], content: str, write: bool) -> None:
    decision = decide(source, content, comment_char="#", environ=env)
    assert decision.write is write, decision.reason


def test_compose_keeps_git_lines_and_says_what_was_left_out() -> None:
    text = compose(GIT_TEMPLATE, "feat: add a\n\nBody.", ["not sent: x.lock (lockfile)"],
                   comment_char="#", origin="written by m in 1.0 s;")
    assert text.startswith("feat: add a\n\nBody.\n\n# codeslm: written by m in 1.0 s;")
    assert "# codeslm: not sent: x.lock (lockfile)\n" in text
    assert text.endswith(GIT_TEMPLATE.lstrip("\n"))
    assert user_text(text, "#") == "feat: add a\n\nBody."
    commented = compose(GIT_TEMPLATE.replace("#", ";"), "feat: add a", [], comment_char=";",
                        mode="comment")
    assert user_text(commented, ";") == "" and "; feat: add a\n" in commented


def test_comment_char() -> None:
    assert comment_char_for(None, GIT_TEMPLATE) == "#"
    assert comment_char_for(";", "") == ";"
    assert comment_char_for("auto", "\n% Please enter\n% On branch\n") == "%"


def test_scissors_content_below_is_not_user_text() -> None:
    content = ("\n# ------------------------ >8 ------------------------\n"
               "# Do not modify or remove the line above.\ndiff --git a/x b/x\n+text\n")
    assert user_text(content, "#") == ""
