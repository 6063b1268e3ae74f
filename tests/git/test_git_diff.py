"""Diff parsing against output of the real git, and the repository access around it."""

from __future__ import annotations

import pytest

from codeslm.errors import InputError
from codeslm.git.diff import parse_diff, unquote_path
from codeslm.git.repo import STAGED, GitRepo

from .conftest import Repo


def test_unborn_repository_diffs_against_the_empty_tree(repo: Repo) -> None:
    repo.write("a.py", "x = 1\ny = 2\n")
    repo.git("add", "a.py")
    git = GitRepo(repo.path)
    assert git.head() is None
    files = parse_diff(git.diff(STAGED))
    assert [(f.path, f.status, f.added, f.deleted) for f in files] == [("a.py", "added", 2, 0)]
    assert files[0].added_lines() == {1, 2}


def test_statuses_line_numbers_and_odd_paths(repo: Repo) -> None:
    repo.write("keep.py", "".join(f"line {i}\n" for i in range(1, 21)))
    repo.write("gone.txt", "bye\n")
    repo.write("old name.txt", "same content here\n" * 5)
    repo.write("run.sh", "echo hi\n")
    repo.write("img.bin", bytes(range(256)))
    repo.commit("initial")
    lines = [f"line {i}\n" for i in range(1, 21)]
    lines[9] = "changed 10\n"
    lines.insert(15, "inserted\n")
    repo.write("keep.py", "".join(lines))
    repo.git("rm", "-q", "gone.txt")
    repo.git("mv", "old name.txt", "new näme.txt")
    (repo.path / "run.sh").chmod(0o755)
    repo.write("img.bin", bytes(range(255, -1, -1)))
    repo.write("tab\tname.txt", "t\n")
    repo.git("add", "-A")
    files = {f.path: f for f in parse_diff(GitRepo(repo.path).diff())}
    assert files["keep.py"].status == "modified"
    assert files["keep.py"].added_lines() == {10, 16}
    assert files["gone.txt"].status == "deleted"
    assert files["new näme.txt"].status == "renamed"
    assert files["new näme.txt"].old_path == "old name.txt"
    assert files["run.sh"].status == "mode"
    assert files["img.bin"].binary and not files["img.bin"].hunks
    assert files["tab\tname.txt"].status == "added"
    stats = GitRepo(repo.path).numstat()
    assert stats["img.bin"] == (None, None)
    assert stats["keep.py"] == (2, 1)


def test_ranges_and_single_commits(repo: Repo) -> None:
    repo.write("a.txt", "1\n")
    first = repo.commit("one")
    repo.write("a.txt", "1\n2\n")
    second = repo.commit("two")
    git = GitRepo(repo.path)
    assert parse_diff(git.diff(f"{first}..{second}"))[0].added_lines() == {2}
    assert parse_diff(git.diff(second))[0].added_lines() == {2}
    assert parse_diff(git.diff(first))[0].status == "added"  # a root commit
    with pytest.raises(InputError, match="unknown revision"):
        git.diff("nope..HEAD")


def test_not_a_repository(tmp_path, gitenv) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not inside a git work tree"):
        GitRepo.discover(tmp_path)


def test_core_hooks_path_is_honoured(repo: Repo) -> None:
    repo.git("config", "core.hooksPath", "my-hooks")
    assert GitRepo(repo.path).hooks_dir() == repo.path / "my-hooks"


def test_unquote() -> None:
    assert unquote_path('"a\\tb"') == "a\tb"
    assert unquote_path('"caf\\303\\251"') == "café"
    assert unquote_path("plain") == "plain"


def test_pushed_ranges(repo: Repo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from codeslm.git.repo import pushed_ranges

    repo.write("a.txt", "1\n")
    root = repo.commit("one")
    repo.write("a.txt", "2\n")
    second = repo.commit("two")
    git = GitRepo(repo.path)
    zero = "0" * 40
    # A new branch whose commits are all unknown to the remote: from the empty tree.
    ranges = pushed_ranges(git, f"refs/heads/main {second} refs/heads/main {zero}\n", "origin")
    assert ranges == [f"{git.empty_tree()}..{second}"]
    assert parse_diff(git.diff(ranges[0]))[0].added_lines() == {1}
    # An update: what the remote has not seen; a deletion: nothing.
    assert pushed_ranges(git, f"refs/heads/main {second} refs/heads/main {root}\n", "origin") == [
        f"{root}..{second}"]
    assert pushed_ranges(git, f"(delete) {zero} refs/heads/old {root}\n", "origin") == []


def test_patch_text_round_trips_and_a_cut_hunk_is_an_input_error(repo: Repo) -> None:
    repo.write("one.txt", "a\n")
    repo.write("many.txt", "".join(f"{i}\n" for i in range(30)))
    repo.commit("initial")
    repo.write("one.txt", "b\n")
    repo.write("many.txt", "".join(f"{i}\n" for i in range(30) if i != 12) + "end")
    repo.git("add", "-A")
    raw = GitRepo(repo.path).diff()
    files = parse_diff(raw)
    # Each file's text() is git's own text again (hunk headers such as "@@ -1 +1 @@" included),
    # up to the "\ No newline" markers, which are not kept.
    expected = raw.replace("\\ No newline at end of file\n", "")
    assert "".join(f.text() for f in files) == expected
    one = next(f for f in files if f.path == "one.txt")
    assert one.hunks[0].header == "@@ -1 +1 @@"
    cut = raw[: raw.index("+b")]  # the one.txt hunk announces a line it lacks
    with pytest.raises(InputError, match="cannot read the diff"):
        parse_diff(cut + "\n")
