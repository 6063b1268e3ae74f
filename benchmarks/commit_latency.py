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

Usage: python benchmarks/commit_latency.py [--package tomli] [--timeout 8] [--limit 20]
       [--sdists DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSIONS = {
    "tomli": ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1.0", "1.2.0", "1.2.1", "1.2.2",
              "1.2.3", "2.0.0", "2.0.1", "2.0.2", "2.1.0", "2.2.1", "2.3.0", "2.3.1", "2.3.2",
              "2.4.0", "2.4.1", "2.5.0"],
    "packaging": ["20.9", "21.0", "21.1", "21.2", "21.3", "22.0", "23.0", "23.1", "23.2",
                  "24.0", "24.1"],
}
ACCEPT_EDITOR = '#!/bin/sh\ncp "$1" "$1.seen"\n'


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5))) - 1]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.machine())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, load avg {load}, "
            f"Python {platform.python_version()}")


def codeslm_commit() -> str:
    """HEAD of this repository, with ``+dirty`` when tracked files under codeslm/ changed."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                         capture_output=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                            "codeslm", "prompts"], cwd=REPO, text=True, capture_output=True,
                           check=False).stdout.strip()
    return (out or "unknown") + ("+dirty" if dirty else "")


def sdist_path(directory: Path, package: str, version: str) -> Path:
    for suffix in (".tar.gz", ".zip"):
        for name in (f"{package}-{version}{suffix}", f"{package.replace('-', '_')}-{version}"
                     f"{suffix}"):
            if (directory / name).exists():
                return directory / name
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", f"{package}=={version}", "-d", str(directory)], check=True)
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


def git(work: Path, env: dict[str, str], *args: str, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=work, env=env, text=True, capture_output=True,
                          check=check)


def timed(work: Path, env: dict[str, str], *args: str
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
    subprocess.run([sys.executable, "-m", "codeslm", "serve", command], cwd=work, env=env,
                   check=mode == "warm", capture_output=True)


def run_package(package: str, sdists: Path, args: argparse.Namespace, tmp: Path) -> list[dict]:
    work = tmp / package
    work.mkdir()
    home = tmp / "git-home"
    home.mkdir(exist_ok=True)
    (home / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                    "[init]\n\tdefaultBranch = main\n")
    editor = tmp / "accept.sh"
    editor.write_text(ACCEPT_EDITOR)
    editor.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CODESLM_GIT"))}
    env.update({"GIT_CONFIG_GLOBAL": str(home / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_EDITOR": str(editor), "CODESLM_GIT_TIMEOUT_S": str(args.timeout)})
    if args.model:
        env["CODESLM_MODEL"] = args.model
    if args.daemon == "off":
        env["CODESLM_DAEMON_ENABLED"] = "0"
    git(work, env, "init", "-q")
    subprocess.run([sys.executable, "-m", "codeslm", "hook", "install"], cwd=work, env=env,
                   check=True, capture_output=True)
    versions = VERSIONS[package][: args.limit + 1]
    rows = []
    for i, version in enumerate(versions):
        replace_tree(work, sdist_path(sdists, package, version))
        git(work, env, "add", "-A")
        if i == 0:
            git(work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m",
                f"Import {package} {version}")
            continue
        stat = git(work, env, "diff", "--cached", "--shortstat").stdout.strip()
        base_s, _ = timed(work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m",
                          f"Release {version}")
        git(work, env, "reset", "-q", "--soft", "HEAD~1")
        daemon(args.daemon, work, env)
        hook_s, proc = timed(work, env, "commit", "-q")
        seen = (work / ".git" / "COMMIT_EDITMSG.seen")
        shown = seen.read_text() if seen.exists() else ""
        generated = "# codeslm: written by" in shown
        if proc.returncode != 0:  # the hook gave up and the "editor" left the message empty
            git(work, env, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m",
                f"Release {version}")
        subject = git(work, env, "log", "-1", "--format=%s").stdout.strip()
        over = re.search(r"the diff \((\d+) tokens\) is over the budget", shown)
        rows.append({
            "package": package, "version": version, "diff": stat,
            "baseline_s": round(base_s, 3), "hook_s": round(hook_s, 3),
            "added_s": round(hook_s - base_s, 3), "generated": generated,
            "gave_up": "gave up after" in proc.stderr, "shortened": bool(over),
            "diff_tokens": int(over.group(1)) if over else None, "subject": subject,
            "note": proc.stderr.strip()[:200],
        })
        print(f"{package} {version}: +{hook_s - base_s:.2f} s "
              f"{'generated' if generated else 'no message'} | {subject[:70]} | {stat}",
              flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", action="append", choices=sorted(VERSIONS))
    parser.add_argument("--timeout", type=float, default=8.0, help="git.timeout_s for the hook")
    parser.add_argument("--limit", type=int, default=20, help="commits per package")
    parser.add_argument("--sdists", type=Path, default=Path.home() / ".cache" / "codeslm" /
                        "bench-sdists", help="where the sdists are (downloaded if missing)")
    parser.add_argument("--model", help="model name or path (default: the configured one)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--daemon", choices=["off", "warm", "cold"], default="off",
                        help="off: the hook loads the model itself (the embedded path); warm: "
                        "the shared daemon is running; cold: stopped before every commit")
    args = parser.parse_args()
    args.sdists.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="codeslm-commit-bench-") as tmp:
        for package in args.package or ["tomli"]:
            rows += run_package(package, args.sdists, args, Path(tmp))
    added = [r["added_s"] for r in rows]
    made = [r for r in rows if r["generated"]]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print(f"machine: {machine()}")
    print(f"codeslm commit: {codeslm_commit()}  timeout: {args.timeout:g} s  commits: {len(rows)}"
          f"  daemon: {args.daemon}")
    print(f"time added to git commit: p50 {percentile(added, 50):.2f} s, "
          f"p95 {percentile(added, 95):.2f} s, max {max(added, default=float('nan')):.2f} s")
    print(f"baseline git commit: p50 {percentile([r['baseline_s'] for r in rows], 50):.3f} s")
    print(f"messages written: {len(made)}/{len(rows)}; gave up at the timeout: "
          f"{sum(r['gave_up'] for r in rows)}; diff over the hook budget (shortened): "
          f"{sum(r['shortened'] for r in rows)}")
    if made:
        added_ok = [r["added_s"] for r in made]
        print(f"time added when a message was written: p50 {percentile(added_ok, 50):.2f} s, "
              f"p95 {percentile(added_ok, 95):.2f} s")
    print(f"peak RSS of a child process (the hook): {peak:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
