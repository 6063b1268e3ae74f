"""Git access through the ``git`` command (no GitPython): one subprocess per question.

Every call runs ``git -C <root>`` with ``core.quotepath=off`` and without colour, external diff
drivers or pagers, so user settings cannot leak into output that is parsed. Output is decoded
as UTF-8 with replacement (paths and patches may hold any bytes). Failures become one-line
:class:`~codeslm.errors.InputError`s naming the git command.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

# Options that make output stable and parseable whatever the user's git config says.
_BASE = ("-c", "core.quotepath=off", "-c", "color.ui=never", "-c", "diff.mnemonicPrefix=false",
         "-c", "diff.noprefix=false", "-c", "diff.relative=false")
_DIFF_OPTS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M", "--src-prefix=a/",
              "--dst-prefix=b/")

STAGED = "staged"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_PAGER"] = "cat"
    env["LC_ALL"] = "C"
    env.pop("GIT_EXTERNAL_DIFF", None)
    return env


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of the history: subject and body."""

    sha: str
    subject: str
    body: str
    parents: int


class GitRepo:
    """A git work tree. Build it with :meth:`discover`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def discover(cls, start: Path | None = None) -> GitRepo:
        """The repository containing ``start`` (default: the working directory)."""
        where = Path.cwd() if start is None else start
        try:
            out = _run(["git", *_BASE, "-C", str(where), "rev-parse", "--show-toplevel"])
        except InputError:
            raise InputError(
                f"{where} is not inside a git work tree", hint="run this inside a git repository"
            ) from None
        return cls(Path(out.strip()))

    # -- plumbing ------------------------------------------------------------------------

    def git(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """Output of ``git args...`` in this repository (stdout, decoded)."""
        return _run(["git", *_BASE, "-C", str(self.root), *args], stdin=stdin, check=check)

    def head(self) -> str | None:
        """The commit HEAD points at, or ``None`` on an unborn branch (no commits yet)."""
        out = self.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
        return out or None

    def empty_tree(self) -> str:
        """The id of the empty tree (differs between SHA-1 and SHA-256 repositories)."""
        return self.git("hash-object", "-t", "tree", "--stdin", stdin="").strip()

    def git_path(self, name: str) -> Path:
        """``git rev-parse --git-path NAME`` as an absolute path (honours core.hooksPath)."""
        out = self.git("rev-parse", "--git-path", name).strip()
        path = Path(out)
        return path if path.is_absolute() else (self.root / path)

    def hooks_dir(self) -> Path:
        """Where git looks for hooks in this repository."""
        return self.git_path("hooks")

    def config_get(self, key: str) -> str | None:
        """A git config value, or ``None`` when unset."""
        out = self.git("config", "--get", key, check=False).strip()
        return out or None

    # -- diffs ---------------------------------------------------------------------------

    def _range_args(self, target: str) -> list[str]:
        if target == STAGED:
            base = self.head() or self.empty_tree()
            return ["--cached", base]
        if ".." in target:
            left, _, right = target.partition("...") if "..." in target else target.partition("..")
            left = left or "HEAD"
            right = right or "HEAD"
            self.verify(left)
            self.verify(right)
            if "..." in target:
                left = self.git("merge-base", left, right).strip()
            return [left, right]
        self.verify(target)
        return [f"{target}^!"] if self._has_parent(target) else [self.empty_tree(), target]

    def _has_parent(self, rev: str) -> bool:
        return bool(self.git("rev-parse", "--verify", "--quiet", f"{rev}^", check=False).strip())

    def verify(self, rev: str) -> str:
        """The tree of ``rev`` (a commit or tree); InputError naming it when it does not exist."""
        out = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{tree}}", check=False)
        if not out.strip():
            raise InputError(f"unknown revision {rev!r} in {self.root}")
        return out.strip()

    def diff(self, target: str = STAGED, *, exclude: list[str] | tuple[str, ...] = ()) -> str:
        """The unified diff of ``target``: ``staged``, ``A..B``, ``A...B`` or one commit.

        ``exclude`` lists paths left out of the output (read with :meth:`numstat` instead).
        """
        specs = ["--", ".", *(f":(exclude,literal){p}" for p in exclude)] if exclude else []
        return self.git("diff", *_DIFF_OPTS, *self._range_args(target), *specs)

    def numstat(self, target: str = STAGED) -> dict[str, tuple[int | None, int | None]]:
        """Path -> (added, deleted) lines; ``None`` counts mean a binary file."""
        out = self.git("diff", *_DIFF_OPTS, "--numstat", "-z", *self._range_args(target))
        stats: dict[str, tuple[int | None, int | None]] = {}
        fields = out.split("\0")
        i = 0
        while i < len(fields):
            head = fields[i]
            if not head:
                i += 1
                continue
            parts = head.split("\t")
            added = None if parts[0] == "-" else int(parts[0])
            deleted = None if parts[1] == "-" else int(parts[1])
            if len(parts) >= 3 and parts[2]:
                path = parts[2]
                i += 1
            else:  # a rename: "A\tD\t" then NUL old NUL new
                path = fields[i + 2]
                i += 3
            stats[path] = (added, deleted)
        return stats

    def attributes(self, paths: list[str], names: tuple[str, ...]) -> dict[str, set[str]]:
        """Path -> the attributes of ``names`` that are set (true) for it (``.gitattributes``)."""
        if not paths:
            return {}
        out = self.git("check-attr", "-z", "--stdin", *names, stdin="\0".join(paths) + "\0",
                       check=False)
        fields = out.split("\0")
        found: dict[str, set[str]] = {}
        for i in range(0, len(fields) - 2, 3):
            path, attr, value = fields[i], fields[i + 1], fields[i + 2]
            if value not in {"unspecified", "unset", "false"}:
                found.setdefault(path, set()).add(attr)
        return found

    def recent_commits(self, limit: int = 40) -> list[Commit]:
        """The latest non-merge commits reachable from HEAD, newest first (empty when unborn)."""
        if self.head() is None:
            return []
        out = self.git("log", f"-n{limit}", "--no-merges", "--format=%H%x1f%P%x1f%s%x1f%b%x1e")
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, parents, subject, body = ([*record.split("\x1f"), "", "", ""])[:4]
            commits.append(Commit(sha, subject.strip(), body.strip(), len(parents.split())))
        return commits


def _run(argv: list[str], *, stdin: str | None = None, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            argv,
            input=stdin.encode("utf-8") if stdin is not None else None,
            capture_output=True,
            env=_env(),
            check=False,
        )
    except FileNotFoundError:
        raise InputError("git is not installed or not on PATH") from None
    if check and proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        shown = " ".join(_command_words(argv))
        raise InputError(f"git {shown} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


def _command_words(argv: list[str]) -> list[str]:
    """``argv`` without the program, the fixed ``-c`` options and ``-C <dir>`` (for messages)."""
    words = argv[1 + len(_BASE):]
    if words[:1] == ["-C"]:
        words = words[2:]
    return words


def pushed_ranges(repo: GitRepo, stdin: str, remote: str) -> list[str]:
    """Revision ranges being pushed, from a pre-push hook's standard input.

    Each input line is ``<local ref> <local oid> <remote ref> <remote oid>``. A deleted ref is
    skipped; an update gives ``remote..local``; a new branch gives the commits not yet on
    ``remote`` (from the parent of the oldest one, or from the empty tree for a root commit).
    """
    ranges: list[str] = []
    for line in stdin.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        _, local, _, remote_oid = parts
        if set(local) == {"0"}:
            continue
        if set(remote_oid) != {"0"} and _exists(repo, remote_oid):
            ranges.append(f"{remote_oid}..{local}")
            continue
        fresh = repo.git("rev-list", local, "--topo-order", "--reverse", "--not",
                         f"--remotes={remote}").split()
        if not fresh:
            continue
        first = fresh[0]
        parent = repo.git("rev-parse", "--verify", "--quiet", f"{first}^", check=False).strip()
        ranges.append(f"{parent or repo.empty_tree()}..{local}")
    return ranges


def _exists(repo: GitRepo, oid: str) -> bool:
    return bool(repo.git("rev-parse", "--verify", "--quiet", f"{oid}^{{commit}}",
                         check=False).strip())
