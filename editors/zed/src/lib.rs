// Zed extension for codeslm: starts `codeslm lsp` and hands it the user's settings.
//
// settings.json, "lsp" -> "codeslm":
//   "binary": { "path", "arguments", "env" }  how to start the server (default: codeslm on PATH)
//   "initialization_options": { ... }         sent in `initialize` (default: "settings")
//   "settings": { ... }                       answered to workspace/configuration (section
//                                             "codeslm") and pushed on every settings change
// Both take the keys of `codeslm config show`, e.g. { "lsp": { "debounce_ms": 150 } }.
use zed_extension_api::{
    self as zed, serde_json::json, serde_json::Value, settings::LspSettings, LanguageServerId,
    Result,
};

const SERVER: &str = "codeslm";

struct Codeslm;

fn user_settings(worktree: &zed::Worktree) -> LspSettings {
    // Unreadable settings are Zed's to report; the server then runs with its own config.
    LspSettings::for_worktree(SERVER, worktree).unwrap_or_default()
}

/// The server's section: `settings` may be written with or without a "codeslm" wrapper.
fn codeslm_section(settings: Value) -> Value {
    match settings {
        Value::Object(mut map) if map.len() == 1 && map.contains_key(SERVER) => {
            map.remove(SERVER).unwrap_or(Value::Null)
        }
        other => other,
    }
}

impl zed::Extension for Codeslm {
    fn new() -> Self {
        Codeslm
    }

    fn language_server_command(
        &mut self,
        _id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let binary = user_settings(worktree).binary.unwrap_or_default();
        let command = match binary.path {
            Some(path) => path,
            None => worktree.which(SERVER).ok_or_else(|| {
                "codeslm is not on PATH: pip install codeslm && codeslm setup, or set \
                 lsp.codeslm.binary.path in settings.json"
                    .to_string()
            })?,
        };
        let args = binary.arguments.unwrap_or_else(|| vec!["lsp".into()]);
        let mut env = worktree.shell_env();
        env.extend(binary.env.unwrap_or_default());
        Ok(zed::Command { command, args, env })
    }

    fn language_server_initialization_options(
        &mut self,
        _id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<Value>> {
        // Without explicit initialization_options, `settings` go in `initialize` too, so the
        // server starts with them (a `model` there is loaded once, not the default first).
        let settings = user_settings(worktree);
        Ok(settings
            .initialization_options
            .or_else(|| settings.settings.map(codeslm_section)))
    }

    fn language_server_workspace_configuration(
        &mut self,
        _id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<Value>> {
        // Zed answers workspace/configuration by looking the requested section up in this
        // value, and sends it whole in workspace/didChangeConfiguration.
        Ok(user_settings(worktree)
            .settings
            .map(|settings| json!({ SERVER: codeslm_section(settings) })))
    }
}

zed::register_extension!(Codeslm);
