"""A model's Hugging Face form: the folder vLLM loads (``config.json``, safetensors, tokenizer).

vLLM does not serve GGUF files on its CPU build, and a GPU user may have no network, so a known
model's verified GGUF is converted offline into ``<models dir>/hf/<name>/`` (dequantized to
bf16; :mod:`codeslm.runtime.models.hf_convert` does the work in the Python that has torch and
transformers, normally the vLLM environment). The folder is written under a temporary name in
the same directory, checked, given a ``codeslm-hf.json`` marker naming the GGUF's SHA-256, and
only then renamed into place: an interrupted conversion leaves nothing that looks finished, and
a finished one is reused until its source changes.

A Hugging Face hub id (``Qwen/Qwen2.5-Coder-1.5B``) is fetched with ``huggingface_hub`` instead,
for users with internet; a local folder is used as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from ... import paths
from ...errors import BackendUnavailable, ModelCorrupt, ModelNotFound
from .registry import find_spec
from .resolve import resolve
from .store import read_marker, sha256_of

MARKER = "codeslm-hf.json"
CONVERTER = Path(__file__).with_name("hf_convert.py")
# What a converted folder must hold before it is renamed into place.
REQUIRED = ("config.json", "tokenizer.json", "tokenizer_config.json")
# The hub files vLLM needs (no GGUF, no other framework's weights).
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.py", "*.jinja"]

Log = Callable[[str], None]


def folder_for(name: str) -> Path:
    """Where the Hugging Face form of the known model ``name`` lives (it may not exist)."""
    return paths.models_dir() / "hf" / name


def is_hub_id(value: str) -> bool:
    """``owner/name`` that is not a path on this machine."""
    parts = value.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not value.startswith((".", "~"))
        and not Path(value).expanduser().exists()
    )


def converted(name: str) -> Path | None:
    """The finished Hugging Face folder of the known model ``name``, if one was made."""
    folder = folder_for(name)
    return folder if _finished(folder, None) else None


def _finished(folder: Path, source_sha: str | None) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return source_sha is None or marker.get("source_sha256") == source_sha


def _check(folder: Path) -> int:
    """ModelCorrupt unless ``folder`` holds a loadable-looking checkpoint; its weight bytes."""
    missing = [f for f in REQUIRED if not (folder / f).is_file()]
    weights = list(folder.glob("*.safetensors"))
    if missing or not weights:
        raise ModelCorrupt(
            f"the converted model lacks {', '.join(missing) or 'safetensors weights'}",
            hint="nothing was kept; see the conversion log",
        )
    try:
        config = json.loads((folder / "config.json").read_text())
    except ValueError as exc:
        raise ModelCorrupt(f"the converted config.json is not JSON ({exc})") from None
    if not config.get("architectures"):
        raise ModelCorrupt("the converted config.json names no architecture")
    for weight in weights:
        # A safetensors file starts with the 8-byte length of its JSON header.
        with weight.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = fh.read(size)
        if size <= 0 or size > weight.stat().st_size or not header.startswith(b"{"):
            raise ModelCorrupt(f"{weight.name} is not a safetensors file")
    return sum(w.stat().st_size for w in weights)


def convert(
    name: str,
    python: Path,
    *,
    log: Log | None = None,
    force: bool = False,
) -> Path:
    """The Hugging Face folder of the known model ``name``, converting its GGUF if needed.

    ``python`` runs the converter (it needs torch, transformers, gguf and accelerate). Raises
    :class:`ModelNotFound` for an unknown name or a missing GGUF, :class:`BackendUnavailable`
    when the conversion fails (with the log's last line), :class:`ModelCorrupt` when its output
    is incomplete; in each case the cache is left as it was.
    """
    say = log or (lambda _line: None)
    spec = find_spec(name)
    if spec is None:
        raise ModelNotFound(f"codeslm knows no model named {name!r} to convert")
    gguf = resolve(spec.name, fetch=True, log=say).path
    marker = read_marker(gguf)
    source_sha = str(marker["sha256"]) if marker and marker.get("sha256") else sha256_of(gguf)
    target = folder_for(spec.name)
    if not force and _finished(target, source_sha):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.converting-", dir=target.parent))
    log_file = paths.log_dir() / f"convert-{spec.name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"converting {gguf.name} to a Hugging Face folder for vLLM (bf16, about a minute; "
        f"log: {log_file})"
    )
    try:
        _run_converter(python, gguf, staging / "model", log_file, say)
        weight_bytes = _check(staging / "model")
        info = {
            "source": gguf.name,
            "source_sha256": source_sha,
            "dtype": "bfloat16",
            "weight_bytes": weight_bytes,
        }
        (staging / "model" / MARKER).write_text(json.dumps(info))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"converted: {target} ({weight_bytes / 1e9:.2f} GB)")
    return target


def _run_converter(python: Path, gguf: Path, out: Path, log_file: Path, say: Log) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with log_file.open("wb") as err:
        try:
            proc = subprocess.Popen(
                [str(python), "-P", str(CONVERTER), str(gguf), str(out)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot run {python} to convert the model: {exc.strerror or exc}",
                hint="codeslm setup --vllm installs the environment that converts it",
            ) from None
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    say(f"  {line['elapsed_s']:>5.0f} s  {line['stage']}")
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if code != 0:
        tail = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
        last = tail[-1][:300] if tail else f"exit code {code}"
        raise BackendUnavailable(
            f"converting {gguf.name} for vLLM failed: {last}",
            hint=f"full log: {log_file}; the converter needs torch, transformers, gguf and "
            "accelerate (codeslm setup --vllm installs them)",
        )


def from_hub(repo_id: str, *, log: Log | None = None) -> Path:
    """A hub checkpoint's local folder, downloaded with ``huggingface_hub`` when not cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    say = log or (lambda _line: None)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError):
        pass
    say(f"downloading {repo_id} from the Hugging Face hub")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, httpx.HTTPError) as exc:
        raise ModelNotFound(
            f"cannot download {repo_id} from the Hugging Face hub: {str(exc).splitlines()[0]}",
            hint="check the network and the id; offline, serve a known model "
            "(codeslm converts its GGUF) or a local folder",
        ) from None
