// Zed extension: start `codeslm lsp` (codeslm must be on PATH).
use zed_extension_api::{self as zed, LanguageServerId, Result};

struct Codeslm;

impl zed::Extension for Codeslm {
    fn new() -> Self {
        Codeslm
    }

    fn language_server_command(
        &mut self,
        _id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let command = worktree
            .which("codeslm")
            .ok_or_else(|| "codeslm is not on PATH (pip install codeslm)".to_string())?;
        Ok(zed::Command { command, args: vec!["lsp".into()], env: worktree.shell_env() })
    }
}

zed::register_extension!(Codeslm);
