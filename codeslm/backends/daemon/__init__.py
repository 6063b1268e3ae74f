"""The per-user model daemon: one loaded model shared by the language server, the CLI and the
git hooks (see :mod:`.server` for the daemon, :mod:`.client` for the backend that reaches it,
:mod:`.runtime` for where it lives and how exactly one is started)."""
