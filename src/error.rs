//! Errors that stop a command. Problems in environment files are [`Diagnostic`]s; this type
//! carries them (and I/O or usage failures) to `main`, which exits once.

use std::path::PathBuf;

use crate::diag::Diagnostic;
use crate::exit_codes;

/// A failure that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Environment files (or the command's environment selection) have errors.
    #[error("{} error(s) in environment files", .0.len())]
    Invalid(Vec<Diagnostic>),
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
