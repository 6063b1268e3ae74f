"""The same typing replay against every model server codeslm can run on a CPU, one after another.

Each case is started the way a user starts it (``codeslm serve --backend vllm | llama-server |
llama-cpp``, or codeslm's own model daemon for ``daemon``), waited for until ready, replayed with
``replay_typing.py`` (same file, keystrokes and ``max_tokens`` for all), and stopped before the
next one starts, so no two servers compete for the cores. While a case runs, the resident memory
of the server's whole process tree (vLLM is three processes) is sampled every 0.25 s; its peak is
reported beside the replay's figures. Linux only (reads ``/proc``).

    python benchmarks/cpu_servers.py --cases vllm,llama-server,llama-cpp,daemon --keystrokes 40

``llama-server`` needs the binary on PATH or in ``CODESLM_LLAMA_SERVER``. Writes one JSON file
per case and a Markdown table to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

#: case name -> (how it is started, the client backend replay_typing.py talks to it with)
CASES = {
    "vllm": ("vllm", "vllm"),
    "llama-server": ("llama-server", "llama-server"),
    "llama-cpp": ("llama-cpp", "openai-compatible"),
    "daemon": ("daemon", "llama-cpp"),
}


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, MiB (0 if it is gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        # The command name in stat may contain spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        pid = int(entry.name)
        children.setdefault(ppid, []).append(pid)
        found = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
        rss[pid] = int(found.group(1)) if found else 0
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1024


class PeakSampler(threading.Thread):
    """Samples the tree RSS of one process until stopped; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            self.peak = max(self.peak, tree_rss_mib(self.pid))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def start_server(kind: str, port: int, log: Path, timeout: float) -> tuple[subprocess.Popen, str]:
    """``codeslm serve --backend kind`` on ``port``; returns the process and its URL once ready."""
    out = log.open("w")
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "codeslm",
            "serve",
            "--backend",
            kind,
            "--port",
            str(port),
            "--no-self-test",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready: "):
            return proc, line.split()[1]
        if time.monotonic() > deadline:
            break
    proc.terminate()
    raise SystemExit(f"error: {kind} did not become ready; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def daemon_pid() -> int:
    """Start the per-user model daemon (if needed) and return its pid."""
    out = subprocess.run(
        [PYTHON, "-m", "codeslm", "serve", "start"], cwd=REPO, capture_output=True, text=True
    )
    found = re.search(r"pid (\d+)", out.stdout + out.stderr)
    if not found:
        raise SystemExit(f"error: the model daemon did not start: {out.stderr.strip()[-300:]}")
    return int(found.group(1))


def run_case(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    kind, client = CASES[name]
    proc = None
    started = time.monotonic()
    if kind == "daemon":
        subprocess.run([PYTHON, "-m", "codeslm", "serve", "stop"], cwd=REPO, capture_output=True)
        pid, url = daemon_pid(), None
    else:
        proc, url = start_server(kind, args.port, out / f"{name}.serve.log", args.start_timeout)
        pid = proc.pid
    startup = time.monotonic() - started
    sampler = PeakSampler(pid)
    sampler.start()
    result_file = out / f"{name}.json"
    cmd = [PYTHON, str(REPO / "benchmarks" / "replay_typing.py"), "--backend", client]
    cmd += ["--url", url] if url else []
    cmd += ["--keystrokes", str(args.keystrokes), "--max-tokens", str(args.max_tokens)]
    cmd += ["--label", name, "--json", str(result_file)]
    try:
        replay = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    finally:
        peak = sampler.stop()
        if proc is not None:
            stop_server(proc)
        else:
            subprocess.run([PYTHON, "-m", "codeslm", "serve", "stop"], cwd=REPO)
    sys.stderr.write(replay.stdout + replay.stderr[-2000:])
    if replay.returncode != 0:
        return {"label": name, "error": (replay.stderr.strip().splitlines() or ["?"])[-1]}
    result = json.loads(result_file.read_text())
    result["startup_s"] = startup
    result["server_tree_peak_rss_mib"] = peak
    result_file.write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| server | TTFT p50 / p95 | end to end p50 / p95 | decode p50 | prefix cache | "
        "peak RSS (process tree) | start |\n|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['label']} | error: {r['error']} | | | | | |")
            continue
        hit = r.get("prefix_cache_hit_rate")
        rows.append(
            f"| {r['label']} | {r['ttft_p50_s']:.2f} s / {r['ttft_p95_s']:.2f} s "
            f"| {r['e2e_p50_s']:.2f} s / {r['e2e_p95_s']:.2f} s "
            f"| {r['decode_tokens_per_s_p50']:.1f} tok/s "
            f"| {'n/a' if hit is None else f'{hit:.0%}'} "
            f"| {r['server_tree_peak_rss_mib']:,.0f} MiB | {r['startup_s']:.0f} s |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="vllm,llama-server,llama-cpp,daemon")
    parser.add_argument("--keystrokes", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, help="folder for logs and results (default: temp)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="codeslm-cpu-servers."))
    out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")
    results = []
    for name in names:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        sys.stderr.write(f"== {name} (load before: {load})\n")
        results.append(run_case(name, args, out))
    text = table(results)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
