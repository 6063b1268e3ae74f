"""Time the prepare-commit-msg hook adds to `git commit`, over real release histories.

Each package's sdists (downloaded from PyPI with pip) are replayed in order as commits of a
fresh repository: the first release is the initial commit, every later release one commit with
the real changes between the two releases. For each commit the script measures, with the same
staged change:

- baseline: ``git commit -m`` with hooks disabled;
- hook: a plain ``git commit`` with ``codeslm hook install``'s hook, ``GIT_EDITOR`` set to a
  script that accepts the message as written (so the time is the hook's, not a person's).

It prints p50/p95 of the time added (hook - baseline), how often the hook gave up at the
timeout (the commit then goes on without a message), the strategies used, peak memory of the
hook process, the machine and the git commit of codeslm.

``--prepared lsp|cli`` times, for each commit and with the shared daemon warm, the same staged
change three ways, side by side (each commit is undone with ``git reset --soft`` and redone):

- ``warm``: no preparation (no language server running; the hook writes the message);
  each mode starts with a new daemon (model loaded, nothing of this change in its cache);
- ``immediate`` (lsp only): a real ``codeslm lsp`` runs in the repository, but ``git commit``
  follows ``git add`` at once, before it could prepare anything (the hook writes it);
- ``prepared``: the message was prepared before the commit, by that language server after
  ``git add`` (the time until it was stored is reported) or by ``codeslm commit-msg
  --prepare`` (``cli``).

Usage: python benchmarks/commit_latency.py [--package tomli] [--timeout 8] [--limit 20]
       [--sdists DIR] [--json out.json] [--daemon off|warm|cold] [--prepared lsp|cli]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSIONS = {
    "tomli": [
        "1.0.0",
        "1.0.1",
        "1.0.2",
        "1.0.3",
        "1.0.4",
        "1.1.0",
        "1.2.0",
        "1.2.1",
        "1.2.2",
        "1.2.3",
        "2.0.0",
        "2.0.1",
        "2.0.2",
        "2.1.0",
        "2.2.1",
        "2.3.0",
        "2.3.1",
        "2.3.2",
        "2.4.0",
        "2.4.1",
        "2.5.0",
    ],
    "packaging": [
        "20.9",
        "21.0",
        "21.1",
        "21.2",
        "21.3",
        "22.0",
        "23.0",
        "23.1",
        "23.2",
        "24.0",
        "24.1",
    ],
}
ACCEPT_EDITOR = '#!/bin/sh\ncp "$1" "$1.seen"\n'


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5))) - 1]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, load avg {load}, "
        f"Python {platform.python_version()}"
    )


def codeslm_commit() -> str:
    """HEAD of this repository, with ``+dirty`` when tracked files under codeslm/ changed."""
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "codeslm", "prompts"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=False,
    ).stdout.strip()
    return (out or "unknown") + ("+dirty" if dirty else "")


def sdist_path(directory: Path, package: str, version: str) -> Path:
    for suffix in (".tar.gz", ".zip"):
        for name in (
            f"{package}-{version}{suffix}",
            f"{package.replace('-', '_')}-{version}{suffix}",
        ):
            if (directory / name).exists():
                return directory / name
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{package}=={version}",
            "-d",
            str(directory),
        ],
        check=True,
    )
    return sdist_path(directory, package, version)


def replace_tree(work: Path, sdist: Path) -> None:
    """Make the work tree hold exactly the sdist's files (its top folder stripped)."""
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1] or not (member.isfile() or member.isdir()):
                continue
            member.name = parts[1]
            tar.extract(member, work, filter="data")


def git(
    work: Path, env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=work, env=env, text=True, capture_output=True, check=check
    )


def timed(
    work: Path, env: dict[str, str], *args: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = git(work, env, *args, check=False)
    return time.perf_counter() - started, proc


def daemon(mode: str, work: Path, env: dict[str, str]) -> None:
    """Put the shared model daemon in the state ``mode`` asks for before a timed commit.

    ``warm``: started and its model loaded (a no-op once running); ``cold``: stopped, so the
    hook pays the start; ``off``: nothing (the hook loads the model in its own process).
    """
    if mode == "off":
        return
    command = "start" if mode == "warm" else "stop"
    subprocess.run(
        [sys.executable, "-m", "codeslm", "serve", command],
        cwd=work,
        env=env,
        check=mode == "warm",
        capture_output=True,
    )


class LanguageServer:
    """A real ``codeslm lsp`` process with the work tree as its only workspace folder.

    Spoken to over stdio with plain JSON-RPC (initialize, initialized; shutdown and exit at
    the end); what it sends is read by a thread and dropped, so its pipe never fills.
    """

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeslm", "lsp"],
            cwd=work,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.initialized = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        folder = {"uri": work.as_uri(), "name": work.name}
        self._send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "rootUri": work.as_uri(),
                    "capabilities": {},
                    "workspaceFolders": [folder],
                },
            }
        )
        if not self.initialized.wait(60):
            raise RuntimeError("codeslm lsp did not answer initialize")
        self._send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.proc.stdin.flush()

    def _drain(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            if b'"id": 1,' in (body := out.read(length)) or b'"id":1,' in body:
                self.initialized.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
            self._send({"jsonrpc": "2.0", "method": "exit"})
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def timed_hook(work: Path, env: dict[str, str], base_s: float, message: str) -> dict:
    """One timed plain ``git commit`` through the hook, and what the editor was shown."""
    load = os.getloadavg()[0]
    hook_s, proc = timed(work, env, "commit", "-q")
    seen = work / ".git" / "COMMIT_EDITMSG.seen"
    shown = seen.read_text() if seen.exists() else ""
    if proc.returncode != 0:  # the hook gave up and the "editor" left the message empty
        git(work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message)
    over = re.search(r"the diff \((\d+) tokens\) is over the budget", shown)
    return {
        "baseline_s": round(base_s, 3),
        "hook_s": round(hook_s, 3),
        "added_s": round(hook_s - base_s, 3),
        "generated": "# codeslm: written by" in shown,
        "prepared_hit": "ahead of the commit" in shown,
        "load1": round(load, 2),
        "gave_up": "gave up after" in proc.stderr,
        "shortened": bool(over),
        "diff_tokens": int(over.group(1)) if over else None,
        "cut_to_time": bool(re.search(r"the diff was cut to \d+ tokens to finish in time", shown)),
        "subject": git(work, env, "log", "-1", "--format=%s").stdout.strip(),
        "note": proc.stderr.strip()[:200],
    }


def clear_prepared(work: Path) -> Path:
    """Empty the repository's store of prepared messages; returns its folder."""
    store = work / ".git" / "codeslm" / "prepared"
    shutil.rmtree(store, ignore_errors=True)
    return store


def wait_prepared(store: Path, timeout: float) -> float | None:
    """Seconds until a prepared message is stored (None: not within ``timeout``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if any(store.glob("*.json")):
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def prepared_modes(
    work: Path, env: dict[str, str], args: argparse.Namespace, base_s: float, message: str
) -> list[dict]:
    """The staged change committed ``warm``, ``immediate`` (lsp) and ``prepared``; see the
    module docstring. The staged change is the same for each (undone with reset --soft)."""
    rows = []
    modes = ["warm", "immediate", "prepared"] if args.prepared == "lsp" else ["warm", "prepared"]
    server = None
    for mode in modes:
        # A new daemon for each mode (loaded before the timed commit): its prompt cache would
        # otherwise hold what the previous mode evaluated for this very change.
        daemon("cold", work, env)
        daemon("warm", work, env)
        store = clear_prepared(work)
        git(work, env, "reset", "-q")  # nothing staged while a new server looks around
        if mode != "warm" and args.prepared == "lsp" and server is None:
            server = LanguageServer(work, env)
            time.sleep(3.0)  # it has seen the repository once (a poll or two)
        git(work, env, "add", "-A")
        prep_s = None
        if mode == "prepared" and args.prepared == "cli":
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "codeslm", "commit-msg", "--prepare"],
                cwd=work,
                env=env,
                capture_output=True,
                check=False,
            )
            prep_s = time.perf_counter() - started
        elif mode == "prepared":
            prep_s = wait_prepared(store, args.prepare_wait)
        daemon("warm", work, env)
        row = timed_hook(work, env, base_s, message)
        row.update(mode=mode, prepare_s=None if prep_s is None else round(prep_s, 2))
        rows.append(row)
        if mode != modes[-1]:
            git(work, env, "reset", "-q", "--soft", "HEAD~1")
    if server is not None:
        server.close()
    return rows


def run_package(package: str, sdists: Path, args: argparse.Namespace, tmp: Path) -> list[dict]:
    work = tmp / package
    work.mkdir()
    home = tmp / "git-home"
    home.mkdir(exist_ok=True)
    (home / "gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    editor = tmp / "accept.sh"
    editor.write_text(ACCEPT_EDITOR)
    editor.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CODESLM_GIT"))}
    env.update(
        {
            "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_EDITOR": str(editor),
            "CODESLM_GIT_TIMEOUT_S": str(args.timeout),
        }
    )
    if args.model:
        env["CODESLM_MODEL"] = args.model
    if args.daemon == "off":
        env["CODESLM_DAEMON_ENABLED"] = "0"
    git(work, env, "init", "-q")
    subprocess.run(
        [sys.executable, "-m", "codeslm", "hook", "install"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    versions = VERSIONS[package][: args.limit + 1]
    rows = []
    for i, version in enumerate(versions):
        replace_tree(work, sdist_path(sdists, package, version))
        git(work, env, "add", "-A")
        message = f"Release {version}" if i else f"Import {package} {version}"
        if i == 0:
            git(work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message)
            continue
        stat = git(work, env, "diff", "--cached", "--shortstat").stdout.strip()
        base_s, _ = timed(
            work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message
        )
        git(work, env, "reset", "-q", "--soft", "HEAD~1")
        if args.prepared:
            found = prepared_modes(work, env, args, base_s, message)
        else:
            daemon(args.daemon, work, env)
            found = [dict(timed_hook(work, env, base_s, message), mode=args.daemon)]
        for row in found:
            row.update(package=package, version=version, diff=stat)
            shown = (
                "prepared"
                if row["prepared_hit"]
                else "generated"
                if row["generated"]
                else "no message"
            )
            print(
                f"{package} {version} {row['mode']}: +{row['added_s']:.2f} s {shown}"
                f" (load {row['load1']:.2f}) | {row['subject'][:60]} | {stat}",
                flush=True,
            )
        rows += found
    return rows


def report(rows: list[dict], mode: str) -> None:
    """The summary lines of one mode."""
    added = [r["added_s"] for r in rows]
    made = [r for r in rows if r["generated"]]
    print(
        f"[{mode}] time added to git commit: p50 {percentile(added, 50):.2f} s, "
        f"p95 {percentile(added, 95):.2f} s, max {max(added, default=float('nan')):.2f} s"
        f"  (load p50 {percentile([r['load1'] for r in rows], 50):.2f})"
    )
    print(
        f"[{mode}] messages written: {len(made)}/{len(rows)} (prepared ahead: "
        f"{sum(r['prepared_hit'] for r in rows)}); gave up at the timeout: "
        f"{sum(r['gave_up'] for r in rows)}; diff over the hook budget (shortened): "
        f"{sum(r['shortened'] for r in rows)}"
    )
    if made:
        added_ok = [r["added_s"] for r in made]
        print(
            f"[{mode}] time added when a message was written: p50 "
            f"{percentile(added_ok, 50):.2f} s, p95 {percentile(added_ok, 95):.2f} s"
        )
    waits = [r["prepare_s"] for r in rows if r.get("prepare_s") is not None]
    if mode == "prepared":
        print(
            f"[{mode}] preparation stored before the commit: {len(waits)}/{len(rows)}; "
            f"its time after git add: p50 {percentile(waits, 50):.1f} s, "
            f"p95 {percentile(waits, 95):.1f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", action="append", choices=sorted(VERSIONS))
    parser.add_argument("--timeout", type=float, default=8.0, help="git.timeout_s for the hook")
    parser.add_argument("--limit", type=int, default=20, help="commits per package")
    parser.add_argument(
        "--sdists",
        type=Path,
        default=Path.home() / ".cache" / "codeslm" / "bench-sdists",
        help="where the sdists are (downloaded if missing)",
    )
    parser.add_argument("--model", help="model name or path (default: the configured one)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument(
        "--daemon",
        choices=["off", "warm", "cold"],
        default="off",
        help="off: the hook loads the model itself (the embedded path); warm: "
        "the shared daemon is running; cold: stopped before every commit",
    )
    parser.add_argument(
        "--prepared",
        choices=["lsp", "cli"],
        help="compare, with the daemon warm, no preparation against a message "
        "prepared by a real codeslm lsp (and committing right after git add) "
        "or by codeslm commit-msg --prepare",
    )
    parser.add_argument(
        "--prepare-wait",
        type=float,
        default=180.0,
        help="seconds to wait for the language server's message",
    )
    args = parser.parse_args()
    if args.prepared:
        args.daemon = "warm"
    args.sdists.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="codeslm-commit-bench-") as tmp:
        for package in args.package or ["tomli"]:
            rows += run_package(package, args.sdists, args, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print(f"machine: {machine()}")
    print(
        f"codeslm commit: {codeslm_commit()}  timeout: {args.timeout:g} s  commits: "
        f"{len({(r['package'], r['version']) for r in rows})}  daemon: {args.daemon}"
        f"  prepared by: {args.prepared or '-'}"
    )
    print(f"baseline git commit: p50 {percentile([r['baseline_s'] for r in rows], 50):.3f} s")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        report([r for r in rows if r["mode"] == mode], mode)
    print(f"peak RSS of a child process (the hook, or the language server): {peak:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
