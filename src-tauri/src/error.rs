//! The error every command returns to the page: `{kind, message}`, where `kind` is for code and
//! `message` says what went wrong and what to do.

use clima_core::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandError {
    /// `config`, `engine`, `store`, `invalid`, `not_found`, `unavailable`, `stopped`, `io` (a
    /// file could not be written), `token_fixed` (a `--token` cannot be regenerated), or an
    /// HTTP API error code passed through.
    pub kind: String,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        CommandError {
            kind: kind.into(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError::new("invalid", message)
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::new("store", e.to_string())
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}
