"""Memory of one model daemon serving two editors, the CLI and a git hook at once.

Starts two real ``codeslm lsp`` processes (two editors) and, while both ask for completions in
their own files, runs ``codeslm complete`` and a ``git commit`` with codeslm's
prepare-commit-msg hook installed. All of them use the per-user daemon (the default).
Reported: the daemon's peak RSS (``VmHWM``), each language server's peak RSS, and the peak of
the CLI and hook processes. Run it with no daemon of this user running
(``codeslm serve stop``) so that the daemon's peak belongs to this run.

Usage: python benchmarks/daemon_memory.py [--model NAME] [--requests 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import git_commit, machine  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from codeslm.backends.daemon import runtime  # noqa: E402

SOURCE = "import os\n\n\ndef read_lines(path):\n    with open(path) as handle:\n        return \n"


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def editor(name: str, model: str, work: Path, requests: int, env: dict[str, str]) -> int:
    client = LanguageClient(name, "1")
    await client.start_io(sys.executable, "-m", "codeslm", "lsp", "--model", model, env=env)
    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), root_uri=work.as_uri(), process_id=os.getpid()))
    client.initialized(lsp.InitializedParams())
    path = work / f"{name}.py"
    path.write_text(SOURCE)
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=SOURCE)))
    for i in range(requests):
        await client.text_document_inline_completion_async(lsp.InlineCompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=5, character=15 - (i % 2)),
            context=lsp.InlineCompletionContext(
                trigger_kind=lsp.InlineCompletionTriggerKind.Invoked)))
    pid = client._server.pid  # type: ignore[attr-defined]  # benchmark-only access
    peak = peak_kib(pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return peak


def cli_and_hook(model: str, work: Path, env: dict[str, str]) -> None:
    src = work / "cli.py"
    src.write_text(SOURCE)
    subprocess.run([sys.executable, "-m", "codeslm", "complete", f"{src}:6:16", "--model",
                    model], env=env, check=True, capture_output=True)
    repo = work / "repo"
    repo.mkdir()
    git_env = dict(env, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com",
                   GIT_EDITOR="true", CODESLM_MODEL=model)
    subprocess.run(["git", "init", "-q"], cwd=repo, env=git_env, check=True)
    subprocess.run([sys.executable, "-m", "codeslm", "hook", "install"], cwd=repo, env=git_env,
                   check=True, capture_output=True)
    (repo / "app.py").write_text(SOURCE.replace("return ", "return handle.read().split()"))
    subprocess.run(["git", "add", "."], cwd=repo, env=git_env, check=True)
    subprocess.run(["git", "commit", "-q"], cwd=repo, env=git_env, capture_output=True)


async def run(model: str, requests: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODESLM_DAEMON_ENABLED"}
    with tempfile.TemporaryDirectory(prefix="codeslm-mem-") as tmp:
        work = Path(tmp)
        peaks = await asyncio.gather(
            editor("editor_a", model, work, requests, env),
            editor("editor_b", model, work, requests, env),
            asyncio.to_thread(cli_and_hook, model, work, env))
    found = runtime.running()
    print(f"# one daemon, two editors, the CLI and a hook  commit {git_commit()}  model {model}")
    print(f"# machine: {machine()}")
    for files, hello in found:
        status = runtime.call(files.socket, {"op": "status"})["status"]
        print(f"daemon pid {hello['pid']} ({hello['model']}): peak RSS "
              f"{peak_kib(int(hello['pid'])) / 1024:.0f} MiB, now {status['rss_mib']} MiB, "
              f"{status['requests']} requests")
    print(f"language servers: peak RSS {peaks[0] / 1024:.0f} and {peaks[1] / 1024:.0f} MiB")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest finished child (CLI, hook, git): {children:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--requests", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(run(args.model, args.requests))


if __name__ == "__main__":
    main()
