"""Managed model servers behind ``codeslm serve``: vLLM on a GPU, llama.cpp on a CPU.

A :class:`LaunchPlan` (pure: argv, environment, URL) is built from the config
(:mod:`.vllm_serve`, :mod:`.llama`, with the machine's facts from :mod:`.machine`), then a
:class:`ManagedServer` (:mod:`.process`) runs it: the child gets its own process group (so a
terminal's Ctrl-C reaches codeslm, which then stops the child in order), its output goes to a
log file under :func:`codeslm.paths.log_dir`, readiness is polled over HTTP, and stopping sends
SIGTERM to the group, then SIGKILL after a grace period.

Servers bind to 127.0.0.1 unless the config says otherwise: vLLM's ``/health`` and
``/metrics`` are never behind an API key.

This package's namespace is its public API: callers use ``serving.vllm_plan`` and friends.
"""

from __future__ import annotations

from .llama import llama_server_executable, llama_server_plan, llamacpp_plan
from .machine import available_memory_gib, cpu_kv_cache_gib, cpu_threads_bind, find_gpu
from .plan import (
    CLIENT_BACKEND,
    LLAMA_CPP,
    LLAMA_SERVER,
    MANAGED,
    VLLM,
    LaunchPlan,
    check_port,
    describe_exit,
    free_port,
    log_path_for,
    url_for,
)
from .process import VLLM_FAILURES, ManagedServer, explain_vllm_failure, log_line_summary
from .vllm_serve import (
    LORA_RANKS,
    NGRAM_SPEC,
    NOT_INSTALLED_HINT,
    hf_cache_has,
    lora_rank,
    parse_lora,
    vllm_command,
    vllm_executable,
    vllm_install,
    vllm_model_id,
    vllm_plan,
)

__all__ = [
    "CLIENT_BACKEND",
    "LLAMA_CPP",
    "LLAMA_SERVER",
    "LORA_RANKS",
    "MANAGED",
    "NGRAM_SPEC",
    "NOT_INSTALLED_HINT",
    "VLLM",
    "VLLM_FAILURES",
    "LaunchPlan",
    "ManagedServer",
    "available_memory_gib",
    "check_port",
    "cpu_kv_cache_gib",
    "cpu_threads_bind",
    "describe_exit",
    "explain_vllm_failure",
    "find_gpu",
    "free_port",
    "hf_cache_has",
    "llama_server_executable",
    "llama_server_plan",
    "llamacpp_plan",
    "log_line_summary",
    "log_path_for",
    "lora_rank",
    "parse_lora",
    "url_for",
    "vllm_command",
    "vllm_executable",
    "vllm_install",
    "vllm_model_id",
    "vllm_plan",
]
