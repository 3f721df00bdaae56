//! Exit codes (SPEC §6). CI must be able to tell drift (1) from breakage (2).

/// Success; no changes.
pub const SUCCESS: u8 = 0;
/// Changes found (`diff`, `render --check`).
pub const CHANGES: u8 = 1;
/// Any error: bad config, I/O, usage, warnings under `--strict`.
pub const ERROR: u8 = 2;
/// Risky changes under `--fail-on risk`.
pub const RISKY: u8 = 3;
