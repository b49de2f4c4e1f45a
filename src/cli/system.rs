//! `system df` and `system check`.

use super::{exit_code, print_list, Context};
use anyhow::Result;
use clap::{Args, Subcommand};
use rimg::{container, view};
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Show disk usage
    Df(DfArgs),
    /// Verify every blob and image in the store; report orphans and leftovers
    Check(CheckArgs),
}

#[derive(Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Remove corrupt and orphaned blobs, leftover temporary files and
    /// downloads cut short more than a day ago
    #[arg(long)]
    repair: bool,
}

pub fn run(ctx: &Context, command: SystemCommand) -> Result<ExitCode> {
    match command {
        SystemCommand::Df(args) => {
            let usage = container::disk_usage(&ctx.store)?;
            print_list(
                args.format.as_deref().unwrap_or(""),
                view::DF_TABLE,
                &view::df_header(),
                &view::df_rows(&usage),
            )
        }
        SystemCommand::Check(args) => check(ctx, args),
    }
}

fn check(ctx: &Context, args: CheckArgs) -> Result<ExitCode> {
    let report = ctx.store.check(args.repair)?;
    let mut out = io::stdout().lock();
    for problem in &report.repaired {
        writeln!(out, "repaired: {problem}")?;
    }
    for problem in &report.problems {
        writeln!(out, "{problem}")?;
    }
    let damage = report.damage().count();
    let mut summary = match damage {
        0 => "the store is consistent".to_string(),
        n => format!("{n} problem(s) found"),
    };
    // What stopped commands leave is not damage: said apart, with the
    // space it takes, and no failure.
    let (leftovers, bytes) = report.leftovers();
    if leftovers > 0 {
        summary.push_str(&format!(
            "; {leftovers} leftover(s) of stopped commands ({}), not damage",
            rimg::format::human_size(bytes)
        ));
    }
    writeln!(
        out,
        "checked {} blobs and {} index entries: {summary}",
        report.blobs, report.entries,
    )?;
    Ok(exit_code(damage == 0))
}
