//! Errors that stop a command: I/O, usage and internal failures, carried to `main`, which exits
//! once. Problems in environment files are `Diagnostic`s, printed by the command that found
//! them (with exit code 2).

use std::path::PathBuf;

use crate::exit_codes;

/// A failure that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What kgen was doing.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The command line is inconsistent in a way clap cannot see.
    #[error("{0}")]
    Usage(String),
    /// kgen refuses to read or write something on disk: a previous render beyond the read
    /// limits, a symlink on the way to the output folder. The message says what to do.
    #[error("{0}")]
    Refused(String),
    /// An external program kgen runs (`helm`) is missing, too old, or failed; `hint` says what
    /// to do.
    #[error("{message}\n  hint: {hint}")]
    Tool {
        /// What went wrong, naming the program and what it was asked.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// A template or serializer failed: a bug in kgen, not in the input.
    #[error("internal error: {0} (this is a bug in kgen; please report it)")]
    Internal(String),
}

impl Error {
    /// Exit code (SPEC §6): every error is 2.
    pub fn exit_code(&self) -> u8 {
        exit_codes::ERROR
    }
}
