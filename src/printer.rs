//! The terminal: data on stdout, messages on stderr, colour decided once. Only the command layer
//! uses this. Every message is escaped ([`diag::escape_lines`]): a path, name or value quoted in
//! it cannot carry a terminal escape sequence to the terminal or the CI log.

use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs};
use crate::diag::{self, Diagnostic, Severity};

/// Output settings for one run.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Colour on stderr.
    pub color_err: bool,
    /// Colour on stdout.
    pub color_out: bool,
    /// `-q`.
    pub quiet: bool,
    /// How many `-v`.
    pub verbose: u8,
    /// When set, diagnostics are collected here instead of printed (`validate --format json`).
    pub collect: Option<std::sync::Arc<std::sync::Mutex<Vec<Diagnostic>>>>,
}

/// Marker error: stdout was closed by the reader (`kgen … | head`).
#[derive(Debug)]
pub struct BrokenPipe;

impl Printer {
    /// Resolves colour: the flag, then a non-empty `NO_COLOR` (off), then whether the stream is
    /// a terminal and `TERM` is not `dumb`.
    pub fn new(g: &GlobalArgs) -> Printer {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let auto = |tty: bool| tty && !no_color && !dumb;
        let (color_out, color_err) = match g.color {
            ColorChoice::Always => (true, true),
            ColorChoice::Never => (false, false),
            ColorChoice::Auto => (auto(std::io::stdout().is_terminal()), auto(std::io::stderr().is_terminal())),
        };
        Printer { color_err, color_out, quiet: g.quiet, verbose: g.verbose, collect: None }
    }

    /// Writes data to stdout.
    pub fn data(&self, text: &str) -> Result<(), BrokenPipe> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe),
            // stdout failing for another reason leaves nothing useful to report to.
            Err(_) => Err(BrokenPipe),
        }
    }

    /// A message on stderr (suppressed by `-q`).
    pub fn info(&self, text: &str) {
        if !self.quiet {
            self.err(&diag::escape_lines(text));
        }
    }

    /// A message kgen styled itself (colour on stderr) on stderr, suppressed by `-q`: not
    /// escaped, so whoever builds it escapes what it quotes.
    pub fn info_styled(&self, text: &str) {
        if !self.quiet {
            self.err(text);
        }
    }

    /// A message on stderr shown only with `-v`.
    pub fn debug(&self, text: &str) {
        if self.verbose >= 1 {
            self.err(&diag::escape_lines(text));
        }
    }

    /// A message on stderr shown only with `-vv`: per environment and stage.
    pub fn trace(&self, text: &str) {
        if self.verbose >= 2 {
            self.err(&diag::escape_lines(text));
        }
    }

    /// An error message on stderr (never suppressed).
    pub fn error(&self, text: &str) {
        let head = if self.color_err { "\x1b[1;31merror\x1b[0m" } else { "error" };
        self.err(&format!("{head}: {}", diag::escape_lines(text)));
    }

    /// A warning on stderr (suppressed by `-q`, like warning diagnostics).
    pub fn warning(&self, text: &str) {
        if !self.quiet {
            let head = if self.color_err { "\x1b[1;33mwarning\x1b[0m" } else { "warning" };
            self.err(&format!("{head}: {}", diag::escape_lines(text)));
        }
    }

    /// A diagnostic with its source frame. Warnings and notes are suppressed by `-q`.
    pub fn diagnostic(&self, d: &Diagnostic, source: Option<&str>) {
        if let Some(sink) = &self.collect {
            sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(d.clone());
            return;
        }
        if self.quiet && d.severity != Severity::Error {
            return;
        }
        let mut text = diag::render(d, source, self.color_err);
        text.push('\n');
        self.err(&text);
    }

    fn err(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = e.write_all(b"\n");
        }
    }
}
