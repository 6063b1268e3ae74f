"""The one error tree of codeslm; every surface translates it at its boundary.

    CodeslmError                    base; ``str(err)`` is a one-line message, ``err.hint`` the fix
    ├── ConfigError                 a bad config file, key or value
    ├── InputError                  bad user input: missing/binary/huge file, position out of range,
    │                               empty instruction, malformed request
    ├── PromptError                 a template is missing, or a variable is missing or unknown
    ├── ContextError                parsing or indexing failed in a way the caller should hear about
    ├── ModelError                  the model file cannot be used
    │   ├── ModelNotFound           no file, not in the cache, not downloadable from here
    │   └── ModelCorrupt            wrong size, wrong SHA-256, not a GGUF file, fails to load
    └── BackendError                the model server or embedded runtime failed
        ├── BackendUnavailable      refused, timed out, not installed, died      (retry may help)
        ├── BackendRejected         4xx, prompt longer than the context          (retry will not)
        └── BackendProtocolError    a malformed or truncated stream

Surfaces: the CLI prints ``error: <message>`` (plus ``hint:``) and exits with ``exit_code``; the
language server returns an empty result and logs; git hooks fail open unless ``--strict``.
"""

from __future__ import annotations


class CodeslmError(Exception):
    """Base of every error codeslm raises on purpose.

    ``message`` is one line saying what went wrong (naming the file, URL or key involved);
    ``hint`` is an optional one-line fix. ``exit_code`` is what the CLI exits with.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(CodeslmError):
    """A config file, key or value is invalid."""

    exit_code = 2


class InputError(CodeslmError):
    """The user's input cannot be used (missing file, bad position, empty instruction...)."""

    exit_code = 2


class PromptError(CodeslmError):
    """A prompt template is missing or was rendered with missing or unknown variables."""


class ContextError(CodeslmError):
    """Context building failed in a way worth reporting (never for an unknown language)."""


class ModelError(CodeslmError):
    """The model cannot be used."""

    exit_code = 3


class ModelNotFound(ModelError):
    """The model is not on disk and cannot be fetched from here."""


class ModelCorrupt(ModelError):
    """The model file exists but is truncated, has the wrong hash or does not load."""


class BackendError(CodeslmError):
    """The backend (embedded runtime or model server) failed.

    ``retryable`` says whether the same request may succeed if sent again.
    """

    exit_code = 4
    retryable = False


class BackendUnavailable(BackendError):
    """The backend cannot be reached or is not installed: refused, timed out, died."""

    retryable = True


class BackendRejected(BackendError):
    """The backend refused the request (HTTP 4xx, prompt longer than the context window)."""


class ContextTooLong(BackendRejected):
    """The prompt plus the requested tokens do not fit in the model's context window."""


class BackendProtocolError(BackendError):
    """The backend answered with something that is not a valid response or stream."""


__all__ = [
    "BackendError",
    "BackendProtocolError",
    "BackendRejected",
    "BackendUnavailable",
    "CodeslmError",
    "ConfigError",
    "ContextError",
    "ContextTooLong",
    "InputError",
    "ModelCorrupt",
    "ModelError",
    "ModelNotFound",
    "PromptError",
]
