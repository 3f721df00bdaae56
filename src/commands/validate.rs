//! `kgen validate [ENV…]`.

use super::{Context, check, report, summary};
use crate::cli::EnvSelection;
use crate::error::Error;
use crate::exit_codes;

/// Checks the selected environments and prints every problem.
pub fn run(ctx: &Context<'_>, sel: &EnvSelection) -> Result<u8, Error> {
    let checked = check(ctx, sel)?;
    report(ctx, &checked);
    let n = checked.resolved.len();
    if checked.has_errors() {
        ctx.printer.info(&format!("validation failed: {}", summary(&checked.diagnostics)));
        return Ok(exit_codes::ERROR);
    }
    let envs = if n == 1 { "environment".to_string() } else { "environments".to_string() };
    ctx.printer.info(&format!("{n} {envs} valid ({})", summary(&checked.diagnostics)));
    Ok(exit_codes::SUCCESS)
}
