//! Zed starts language servers only through extensions: this one starts `flake8-async-sqla server` for Python.

use zed_extension_api::{self as zed, settings::LspSettings, LanguageServerId, Result};

/// The command the Python package installs (the server needs its `lsp` extra).
const SERVER_COMMAND: &str = "flake8-async-sqla";

struct Flake8AsyncSqla;

impl zed::Extension for Flake8AsyncSqla {
    fn new() -> Self {
        Flake8AsyncSqla
    }

    fn language_server_command(
        &mut self,
        language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        // `lsp.flake8-async-sqla.binary` in Zed's settings wins: a virtualenv Zed's PATH does not see.
        let binary = LspSettings::for_worktree(language_server_id.as_ref(), worktree)
            .ok()
            .and_then(|settings| settings.binary);
        let command = binary
            .as_ref()
            .and_then(|binary| binary.path.clone())
            .or_else(|| worktree.which(SERVER_COMMAND))
            .ok_or_else(|| {
                format!(
                    "`{SERVER_COMMAND}` is not on the PATH Zed sees: `pip install 'flake8-async-sqla[lsp]'`, \
                     or set lsp.{SERVER_COMMAND}.binary.path in Zed's settings"
                )
            })?;
        let args = binary
            .and_then(|binary| binary.arguments)
            .unwrap_or_else(|| vec!["server".to_string()]);
        Ok(zed::Command {
            command,
            args,
            env: worktree.shell_env(),
        })
    }
}

zed::register_extension!(Flake8AsyncSqla);
