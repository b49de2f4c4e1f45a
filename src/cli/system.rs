//! `system df`, `system check`, and the commands about rimg itself:
//! `info`, `version` and `completion`.

use super::{exit_code, print_list, Context};
use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use rimg::format::human_size4;
use rimg::image::Catalog;
use rimg::{container, format, view};
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
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct UnshareArgs {
    /// The command to run (default: $SHELL)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<std::ffi::OsString>,
}

#[derive(Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    shell: Shell,
}

/// The shells `completion` writes for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Remove corrupt and orphaned blobs, leftover temporary files, unused
    /// layer snapshots and downloads cut short more than a day ago
    #[arg(long)]
    repair: bool,
}

pub fn run(ctx: &Context, command: SystemCommand) -> Result<ExitCode> {
    match command {
        SystemCommand::Df(args) => df(ctx, args),
        SystemCommand::Check(args) => check(ctx, args),
    }
}

/// `version [--format]`: the default layout is itself a template, so both
/// take the same path.
pub fn version(args: VersionArgs) -> Result<ExitCode> {
    let template = args.format.as_deref().unwrap_or(rimg::version::TEMPLATE);
    let mut out = io::stdout().lock();
    format::render_each(template, &[rimg::version::info()], &[], &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a command where rimg works: without root, as root of rimg's user
/// namespace and in its mount namespace, where containers' overlay mounts
/// (`rimg mount`) can be seen and their files, owned by subordinate IDs,
/// changed or removed (as `podman unshare`); as root, as it is.
pub fn unshare(_ctx: &Context, args: UnshareArgs) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let mut command = args.command.into_iter();
    let program = command
        .next()
        .or_else(|| std::env::var_os("SHELL"))
        .unwrap_or_else(|| "/bin/sh".into());
    // exec returns only when the program could not be run: a shell's
    // statuses for that.
    let error = std::process::Command::new(&program).args(command).exec();
    let code = match error.kind() {
        io::ErrorKind::NotFound => 127,
        io::ErrorKind::PermissionDenied => 126,
        _ => 125,
    };
    let what = format!("running {}", program.to_string_lossy());
    super::print_error(&anyhow::Error::new(error).context(what));
    Ok(ExitCode::from(code))
}

/// `info [--format]`: the store's figures, storage driver and runtime.
pub fn info(ctx: &Context, args: InfoArgs) -> Result<ExitCode> {
    let template = args.format.as_deref().unwrap_or(container::info::TEMPLATE);
    let info = container::info::info(&ctx.store)?;
    let mut out = io::stdout().lock();
    format::render_each(template, &[info], &[], &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `completion SHELL`: the script clap_complete makes from the command
/// line's own definition, so it never falls behind it.
pub fn completion(args: CompletionArgs, command: &mut clap::Command) -> Result<ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // clap_complete's `generate` panics when stdout closes early (a pipe
    // into `head`); `try_generate` reports it.
    command.set_bin_name("rimg");
    command.build();
    let mut out = io::stdout().lock();
    clap_complete::Generator::try_generate(&shell, command, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn df(ctx: &Context, args: DfArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&ctx.store)?;
    let (usage, containers) = container::disk_usage(&ctx.store, &catalog)?;
    let cache = ctx.store.cache_usage()?;
    if !args.verbose {
        return print_list(
            args.format.as_deref().unwrap_or(""),
            view::DF_TABLE,
            &view::df_header(),
            &view::df_rows(&usage, &cache),
        );
    }
    // As the docker CLI's verbose output, which has no custom format: a
    // table per section, each after its title.
    let now = Utc::now();
    let cache_title = format!("\nBuild cache usage: {}\n\n", human_size4(cache.size));
    let snapshots = container::snapshot_usage(&ctx.store, &catalog, &containers)?;
    let snapshots_title = format!("\n{}\n\n", view::df_snapshots_title(&snapshots));
    let mut sections = vec![
        (
            "Images space usage:\n\n",
            view::DF_IMAGES_TABLE,
            view::images_header(),
            view::df_image_rows(&catalog, &usage, &containers, now),
        ),
        (
            "\nContainers space usage:\n\n",
            view::DF_CONTAINERS_TABLE,
            view::ps_header(),
            view::df_container_rows(&catalog, &containers, now),
        ),
        (
            "\nLocal Volumes space usage:\n\n",
            view::DF_VOLUMES_TABLE,
            view::df_volumes_header(),
            Vec::new(),
        ),
        (
            cache_title.as_str(),
            view::DF_BUILD_CACHE_TABLE,
            view::df_build_cache_header(),
            view::df_build_cache_rows(&cache, now),
        ),
    ];
    // rimg's own, after Docker's sections, and only when there are
    // snapshots (never with the copy driver): the four rows and sections
    // above keep Docker's figures, where an image's size is its unpacked
    // layers' whether or not they are unpacked; this says what the
    // unpacked copies take besides the store's blobs.
    if !snapshots.is_empty() {
        sections.push((
            snapshots_title.as_str(),
            view::DF_SNAPSHOTS_TABLE,
            view::df_snapshots_header(),
            view::df_snapshot_rows(&snapshots),
        ));
    }
    let mut out = io::stdout().lock();
    for (title, table, header, rows) in sections {
        out.write_all(title.as_bytes())?;
        format::render_list(table, table, &header, &rows, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn check(ctx: &Context, args: CheckArgs) -> Result<ExitCode> {
    // The store's blobs and files, then the containers' layer snapshots.
    let report = container::check(&ctx.store, args.repair)?;
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
