"""The configuration's schema: one dataclass per section, :class:`Config` holding them, and
:data:`KEYS` (every dotted key with its default, which also gives its type)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CompletionConfig:
    """Code completion (``codeslm complete``, the language server)."""

    mode: str = "auto"  # auto | single-line | multi-line
    fim_format: str = "auto"  # auto (detected from the vocabulary) or a family in fim_formats.toml
    max_tokens: int = 64  # tokens for a multi-line completion
    max_tokens_single_line: int = 48
    temperature: float = 0.0
    # Characters of the current file before and after the cursor put in the prompt.
    prefix_chars: int = 3000
    suffix_chars: int = 1000
    latency_budget_ms: int = 2000  # the deadline max_tokens is derived from; 0 = no deadline
    cache_size: int = 256  # completions kept in the LRU cache
    speculative: str = "none"  # none | ngram (prompt-lookup decoding on llama.cpp)
    # insert: an edit in the middle of the previous prompt keeps the cached text after it too
    # (KV insertion, embedded llama.cpp and the daemon); prefix: only the text before it.
    kv_reuse: str = "insert"
    # With kv_reuse = "insert": tokens right after the edit evaluated again (not reused);
    # without them the answer differed from an exact evaluation in 16 of 20 keystrokes, with 8
    # in 3 of 20 (benchmarks/RESULTS.md, KV insertion).
    # -1 = auto, by model size (codeslm.backends.kvcache.refresh_tokens): now 16 for both models.
    kv_refresh_tokens: int = -1
    # Recent prompts whose KV cache is kept aside (copied out of llama.cpp) when another prompt
    # takes the cache, so that going back costs no prefill: the quick first window and the
    # full one, two editors, a prepared commit message. 0 = off. About 11 MB per 900 tokens
    # of the 0.5B model.
    kv_stash_slots: int = 2
    # Model for automatic completions while typing; empty = the top-level model.
    fast_model: str = ""
    retries: int = 2  # seeded samples tried when post-processing rejects the greedy completion
    # codeslm tune's LoRA for llama.cpp: auto (the one tuned for this repository and model, if
    # any) | none | the adapter's folder or .gguf (refused when made for another base model)
    adapter: str = "auto"


@dataclass(slots=True)
class GenConfig:
    """Instruction-following generation (``codeslm gen``, refactors)."""

    max_tokens: int = 768
    temperature: float = 0.0


@dataclass(slots=True)
class ContextConfig:
    """The tree-sitter context builder and workspace index."""

    enabled: bool = True
    budget_tokens: int = 768  # tokens of cross-file context in a completion prompt
    max_file_bytes: int = 1_000_000  # larger files are not indexed
    secret_patterns: list[str] = field(
        default_factory=lambda: [
            ".env",
            ".env.*",
            "*.pem",
            "*.key",
            "*.p12",
            "*.pfx",
            "*.jks",
            "*.keystore",
            "id_rsa*",
            "id_dsa*",
            "id_ecdsa*",
            "id_ed25519*",
            ".npmrc",
            ".pypirc",
            ".netrc",
            ".git-credentials",
            # Data files only: a module called secrets.py or credentials.py is code, indexed
            # with its secret-looking literals redacted.
            "credentials",
            "credentials.json",
            "credentials.y*ml",
            "credentials.toml",
            "credentials.ini",
            "credentials.csv",
            "secrets.json",
            "secrets.y*ml",
            "secrets.toml",
            "secrets.ini",
            "secrets.env",
            "*.tfvars",
            "*.tfstate",
            "*secret*.json",
            "*secret*.yaml",
            "*secret*.yml",
            "service-account*.json",
            ".htpasswd",
        ]
    )
    extra_ignore: list[str] = field(default_factory=list)  # more .gitignore-style patterns
    max_files: int = 20_000  # a workspace with more files is indexed only up to this many
    redact_patterns: list[str] = field(default_factory=list)  # more regexes of secret values
    # After ``receiver.`` in Python, let the model pick only a member the receiver has, when
    # the index knows them all (monitor-guided decoding; the embedded backend enforces it).
    member_constraint: bool = True


@dataclass(slots=True)
class LspConfig:
    """Language server behaviour (also settable from the editor)."""

    # 75: with KV reuse a cancelled request costs little, so waiting less shows more answers.
    # The typing replay (benchmarks/RESULTS.md, stop 18): 75 ms against 150 ms showed ~1.5x as
    # many suggestions, ~1.6x as many matching the next typing, at p50 0.29 s against 0.39-0.49.
    debounce_ms: int = 75
    # Upper bound of an adaptive debounce that follows the user's typing rhythm between
    # debounce_ms and this; 0 (the default) = always wait exactly debounce_ms. Measured in
    # benchmarks/RESULTS.md: adapting cut CPU but showed far fewer suggestions.
    debounce_max_ms: int = 0
    disabled_languages: list[str] = field(default_factory=list)
    max_document_bytes: int = 2_000_000
    # A protocol message longer than this is skipped unread (one log line, an error answer).
    # JSON escaping can make a document's message several times its size.
    max_message_bytes: int = 32 * 1024 * 1024
    candidates_invoked: int = 3  # completions offered when the user asks explicitly
    # Seeded samples tried when post-processing rejects the greedy answer of a suggestion made
    # while typing (an explicit request and the CLI use completion.retries). Each one is a
    # whole second generation the user waits for, and in typing replays they added the
    # slowest suggestions and no matching ones (benchmarks/RESULTS.md, issue 15, stop 23).
    automatic_retries: int = 0
    # Once the user types into a suggestion, complete in the background where finishing it and
    # pressing Enter leads, so the next line's suggestion is waiting there (after llama.vim).
    # It runs only while no real request needs the model, and any real request stops it. Off:
    # in a typing replay none of its 5 answers was used (benchmarks/RESULTS.md, stop 24).
    follow_up: bool = False
    # A suggestion while typing that the model is still writing this long after the request
    # reached the engine is shown with what is written (a word or whole lines at least), and
    # the generation goes on in the background: typing through the shown text, or accepting
    # it, then gets the rest without a model call. On a laptop CPU a long line takes longer to
    # write than users wait between keys (benchmarks/RESULTS.md, issue 15, stop 25). 0 = wait
    # for the whole suggestion.
    show_within_ms: int = 700
    # Alternatives beyond the first are made only while the request is likely to stay within
    # this, so a slow first answer (a new place on a CPU) is not held back by two more
    # generations; 0 = always make them all.
    candidates_budget_ms: int = 1000
    # Completions at a new place use a short window (a small prompt, answered in about half
    # the time) until the full prompt has been evaluated in the background. Only with a
    # backend that keeps several prompts' caches (llama.cpp's stash, completion.kv_stash_slots):
    # first suggestion at a new place 7.3 -> 2.6 s p50, after a 3 s dwell 3.3 -> 1.1 s, typing
    # unchanged (benchmarks/RESULTS.md, new_place.py, lsp_typing.py).
    quick_first: bool = True
    # Evaluate the prompt where the user is (after an edit pause, or a codeslm/warm
    # notification from the editor) ahead of a request: lowest priority, cancelled by any.
    warm_ahead: bool = True
    # record shown/accepted suggestions locally for `codeslm stats` (never sent anywhere)
    accept_stats: bool = True


@dataclass(slots=True)
class GitConfig:
    """Commit messages and review."""

    # the prepare-commit-msg hook gives up (and lets the commit go) after this
    timeout_s: float = 8.0
    max_diff_tokens: int = 1536
    review_max_findings: int = 20
    hook: bool = True  # CODESLM_GIT_HOOK=0 turns the installed hooks off without uninstalling
    # Diff tokens the hook sends (its prompt must fit timeout_s); 0 = sized for the model: 512
    # for the 0.5B, 225 for the 1.5B (codeslm.git.ahead.hook_budget).
    hook_max_diff_tokens: int = 0
    hook_write: str = "message"  # message (ready to save) | comment (suggestion in # lines)
    message_max_tokens: int = 72  # tokens the model may write for a commit message
    map_max_calls: int = 8  # per-file summaries for a diff over the budget (map-reduce)
    review_timeout_s: float = 120.0  # model time for a review; rule findings are always kept
    review_model: str = ""  # model for reviews (e.g. qwen2.5-coder-1.5b); empty = the model
    exclude: list[str] = field(default_factory=list)  # more paths never sent (glob patterns)
    # The language server prepares the hook's message once the staged change has been still
    # this long (lowest priority, dropped for any completion), so `git commit` need not wait.
    prepare: bool = True
    prepare_quiet_s: float = 1.5


@dataclass(slots=True)
class ServeConfig:
    """Managed servers (``codeslm serve``) and multi-endpoint choice."""

    host: str = "127.0.0.1"
    port: int = 8012
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.35
    speculative_ngram: bool = False
    extra_args: list[str] = field(default_factory=list)
    startup_timeout_s: float = 900.0  # vLLM's first start compiles and captures graphs


@dataclass(slots=True)
class DaemonConfig:
    """The per-user model daemon that the ``llama-cpp`` backend shares between processes."""

    # false: every process loads the model itself (the in-process ``embedded`` backend).
    enabled: bool = True
    idle_minutes: float = 30.0  # the daemon exits after this long without a request; 0 = never
    start_timeout_s: float = 120.0  # how long a first request waits for the model to load


@dataclass(slots=True)
class Config:
    """The effective configuration."""

    # A known model name, a .gguf path, or a served model id. The default is registry.DEFAULT_MODEL
    # (this layer may not import the registry); `codeslm doctor` may choose the 0.5B for a small
    # machine (codeslm.config.machine_fit), below every file, variable and flag.
    model: str = "qwen2.5-coder-1.5b"
    # llama-cpp | openai-compatible | vllm | llama-server | ollama | fake
    backend: str = "llama-cpp"
    url: list[str] = field(default_factory=list)  # server endpoints for HTTP backends
    api_key: str = ""
    n_ctx: int = 4096  # context window of the embedded model
    threads: int = 0  # 0 = the cores this process may use
    # use only the cores other programs leave free, per request (codeslm.backends.threads)
    adaptive_threads: bool = True
    n_batch: int = 128  # prompt tokens per decode step (smaller = faster cancellation)
    # Map the model file rather than read it. Mapped, the model's pages are shared between
    # processes, but llama.cpp's repacked copies of the weights come on top of the mapped
    # originals (1.5B model: 1,880 against 1,286 MiB resident). The model daemon, one
    # long-lived process, always reads the file (benchmarks/RESULTS.md, daemon memory).
    use_mmap: bool = True
    # Chat prompt heads (the commit message's instruction and example) whose KV cache is kept
    # on disk per model, so that a cold model skips evaluating them (codeslm.backends.kvheads);
    # 0 = off.
    kv_head_files: int = 16
    request_timeout_s: float = 60.0
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    gen: GenConfig = field(default_factory=GenConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    lsp: LspConfig = field(default_factory=LspConfig)
    git: GitConfig = field(default_factory=GitConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)


_SECTIONS = {
    f.name: f.type
    for f in dataclasses.fields(Config)
    if f.name in {"completion", "gen", "context", "lsp", "git", "serve", "daemon"}
}


def _field_types() -> dict[str, Any]:
    """Dotted key -> default value, for every leaf key (used to validate and coerce)."""
    out: dict[str, Any] = {}
    default = Config()
    for f in dataclasses.fields(Config):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                out[f"{f.name}.{sub.name}"] = getattr(value, sub.name)
        else:
            out[f.name] = value
    return out


KEYS: dict[str, Any] = _field_types()


def as_flat_dict(config: Config) -> dict[str, Any]:
    """The config as dotted keys (for ``config show`` and for passing to subprocesses)."""
    out: dict[str, Any] = {}
    for key in KEYS:
        if "." in key:
            section, sub = key.split(".", 1)
            out[key] = getattr(getattr(config, section), sub)
        else:
            out[key] = getattr(config, key)
    return out


def effective_threads(config: Config) -> int:
    """Threads for CPU inference: the configured number, else the cores this process may use."""
    if config.threads > 0:
        return config.threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
