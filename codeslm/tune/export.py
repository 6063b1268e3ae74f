"""Writing a trained adapter in the forms the backends load, as one finished folder.

:func:`write_adapter` saves the PEFT adapter (``adapter_config.json`` and
``adapter_model.safetensors``: vLLM's ``--enable-lora``/``--lora-modules``), converts it with
llama.cpp's ``convert_lora_to_gguf.py`` into ``adapter.gguf`` (llama.cpp's ``lora_path``),
adds ``codeslm-adapter.json`` and only then renames the folder into place
(:func:`codeslm.tune.store.publish`). A failure at any point (a full disk, the converter)
leaves the previous adapter untouched and no partial one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from . import llama_src, store
from .store import AdapterInfo


def write_adapter(model: Any, base_folder: Path, info: AdapterInfo, target: Path) -> Path:
    """Save ``model``'s LoRA (a PEFT model) for ``base_folder`` into ``target``."""
    return _write(lambda staging: model.save_pretrained(str(staging)), base_folder, info, target)


def write_saved(peft_folder: Path, base_folder: Path, info: AdapterInfo, target: Path) -> Path:
    """The same from a LoRA already saved in PEFT form (a training snapshot)."""

    def copy(staging: Path) -> None:
        for name in store.PEFT_FILES:
            shutil.copy2(peft_folder / name, staging / name)

    return _write(copy, base_folder, info, target)


def _write(
    save: Callable[[Path], None], base_folder: Path, info: AdapterInfo, target: Path
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.writing-", dir=target.parent))
    try:
        save(staging)
        _point_at_base(staging, base_folder)
        gguf_lora(staging, base_folder, staging / store.GGUF_NAME)
        (staging / store.INFO).write_text(info.to_json(), encoding="utf-8")
        store.publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _point_at_base(folder: Path, base_folder: Path) -> None:
    """Record the local base folder in ``adapter_config.json`` (PEFT writes what it was
    loaded from, which is that folder already; kept explicit for vLLM and the converter)."""
    import json

    config_file = folder / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = str(base_folder)
    config_file.write_text(json.dumps(config, indent=2))


def gguf_lora(peft_folder: Path, base_folder: Path, out: Path) -> Path:
    """Convert a PEFT LoRA folder into a GGUF LoRA (f16) with llama.cpp's converter."""
    log_file = paths.log_dir() / "tune-convert-lora.log"
    llama_src.run_converter(
        "convert_lora_to_gguf.py",
        ["--base", str(base_folder), "--outfile", str(out), "--outtype", "f16", str(peft_folder)],
        log_file=log_file,
    )
    return out
