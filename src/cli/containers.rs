//! The `container` group (`create`, `run`, `exec`, `start`, `stop`,
//! `restart`, `kill`, `logs`, `wait`, `ls`, `mount`, `rm`, `diff`,
//! `commit`, `export`), also at the top level as Docker has them. The
//! commands that run containers are in `run.rs`.

use super::{exit_code, print_errors, print_table, refuse_terminal_output, run, Context};
use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use rimg::container::filter::ContainerFilter;
use rimg::container::run::Engine;
use rimg::container::{self, CommitOptions, ContainerError, Containers};
use rimg::image::{Catalog, Sizes};
use rimg::view;
use serde_json::Value;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Create a new container: the image's layers unpacked into a directory
    Create(run::CreateArgs),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// Start one or more stopped containers
    Start(run::StartArgs),
    /// Stop one or more running containers
    Stop(run::StopArgs),
    /// Restart one or more containers
    Restart(run::StopArgs),
    /// Kill one or more running containers
    Kill(run::KillArgs),
    /// Fetch the logs of a container
    Logs(run::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(run::WaitArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Print the path of a container's root filesystem
    Mount(MountArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Watches a detached container (started by `run -d`, not by users)
    #[command(hide = true)]
    ContainerMonitor(run::MonitorArgs),
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided (status=created|running|exited)
    #[arg(short, long, value_name = "FILTER", value_parser = super::filter_flag)]
    filter: Vec<String>,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

#[derive(Args)]
pub struct MountArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes (rimg's containers have none)
    #[arg(short, long)]
    volumes: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pause: bool,
    container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    #[arg(value_name = "SRC")]
    src: String,
    #[arg(value_name = "DEST")]
    dest: String,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

pub fn run(ctx: &Context, command: ContainerCommand) -> Result<ExitCode> {
    let store = &ctx.store;
    match command {
        ContainerCommand::Create(args) => return run::create(ctx, args),
        ContainerCommand::Run(args) => return run::run(ctx, args),
        ContainerCommand::Exec(args) => return run::exec(ctx, args),
        ContainerCommand::Start(args) => return run::start(ctx, args),
        ContainerCommand::Stop(args) => return run::stop(ctx, args),
        ContainerCommand::Restart(args) => return run::restart(ctx, args),
        ContainerCommand::Kill(args) => return run::kill(ctx, args),
        ContainerCommand::Logs(args) => return run::logs(ctx, args),
        ContainerCommand::Wait(args) => return run::wait(ctx, args),
        ContainerCommand::ContainerMonitor(args) => return run::monitor(ctx, args),
        ContainerCommand::Ls(args) => return ps(ctx, args),
        ContainerCommand::Mount(args) => {
            let containers = Containers::new(store);
            for arg in &args.containers {
                let found = containers.find(arg)?;
                let rootfs = containers.mounted_rootfs(&found)?;
                let path = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
                println!("{}", path.display());
            }
            if rimg::runtime::userns::joined() {
                eprintln!("WARNING: without root, a container's files are mounted in rimg's mount namespace only: use the path under `rimg unshare`");
            }
        }
        ContainerCommand::Rm(args) => return rm(ctx, args),
        ContainerCommand::Diff(args) => {
            let mut out = io::stdout().lock();
            for change in container::diff(store, &args.container)? {
                writeln!(out, "{}", change.line())?;
            }
        }
        ContainerCommand::Commit(args) => {
            let mut pause = args.pause;
            if pause && container::cannot_pause(store, &args.container)? {
                eprintln!("WARNING: committing the container running: without root it has no cgroup freezer to pause it with");
                pause = false;
            }
            let options = CommitOptions {
                author: args.author,
                message: args.message,
                changes: args.change,
                reference: args.reference,
                pause,
            };
            let container = args.container;
            return ctx.make_image(
                move |store| container::commit(&store, &container, &options),
                "commit interrupted: no image was made, the container is as it was",
            );
        }
        ContainerCommand::Export(args) => export(ctx, args)?,
        ContainerCommand::Cp(args) => cp(ctx, args)?,
        ContainerCommand::Prune(args) => prune(ctx, args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn ps(ctx: &Context, args: PsArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&ctx.store)?;
    let engine = Engine::new(&ctx.store, None);
    let containers = engine.containers().list()?;
    let filter = ContainerFilter::parse(&args.filter, &containers, |name| {
        let image = catalog.image(&catalog.find(name).ok()?);
        Some((image.id.clone(), image.config.rootfs.diff_ids.clone()))
    })?;
    let now = Utc::now();
    // As the docker CLI: sizes cost a walk of each container, so they are
    // measured for -s, or when the format uses them (`{{.Size}}`, and
    // `json`, which prints every field).
    let format = args.format.as_deref().unwrap_or("");
    let sized = !args.quiet && (args.size || format.contains(".Size") || format.contains("json"));
    let mut sizes = Sizes::new(&ctx.store);
    let mut items = Vec::new();
    for c in containers {
        let state = engine.state(&c)?;
        let image = catalog.images().iter().find(|i| i.id == c.image_id);
        let lineage: Vec<_> = image
            .map(|i| catalog.lineage(i).into_iter().map(|i| &i.id).collect())
            .unwrap_or_default();
        if !(args.all || filter.has_status() || state.is_running())
            || !filter.matches(&c, &state, image, &lineage)
        {
            continue;
        }
        let mut row = view::container_row(&c, &state, &catalog, !args.no_trunc, now);
        if sized {
            let rw = container::size_rw(&ctx.store, &c)?;
            // The root filesystem: the image the changes are over, and them.
            let image = catalog.images().iter().find(|i| i.id == c.head.config);
            let below = match image {
                Some(image) => sizes.image(image)?,
                None => 0,
            };
            row["Size"] = Value::String(view::container_size(rw, below + rw));
        }
        items.push(row);
    }
    let table = if args.size {
        view::PS_TABLE_SIZE
    } else {
        view::PS_TABLE
    };
    print_table(
        args.format.as_deref(),
        args.quiet,
        table,
        &view::ps_header(),
        &items,
    )
}

fn rm(ctx: &Context, args: RmArgs) -> Result<ExitCode> {
    let _ = args.volumes;
    let mut success = true;
    for arg in &args.containers {
        match container::remove(&ctx.store, arg, args.force) {
            Ok(()) => println!("{arg}"),
            Err(ContainerError::NotFound(_)) if args.force => {}
            Err(e) => {
                success = false;
                print_errors(vec![e]);
            }
        }
    }
    Ok(exit_code(success))
}

/// `CONTAINER:PATH` as Docker's cp splits it: a colon before any slash
/// (a path with a colon is written `./a:b`).
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

fn cp(ctx: &Context, args: CpArgs) -> Result<()> {
    use rimg::container::copy;
    let store = &ctx.store;
    match (container_path(&args.src), container_path(&args.dest)) {
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some((container, path)), None) if args.dest == "-" => {
            refuse_terminal_output()?;
            let out = copy::archive(
                store,
                container,
                path,
                io::BufWriter::new(io::stdout().lock()),
            )?;
            out.into_inner().map_err(|e| e.into_error())?.flush()?;
        }
        (Some((container, path)), None) => {
            copy::copy_to_host(store, container, path, std::path::Path::new(&args.dest))?
        }
        (None, Some((container, path))) if args.src == "-" => {
            copy::copy_tar_in(store, container, io::stdin(), path, args.archive)?
        }
        (None, Some((container, path))) => copy::copy_from_host(
            store,
            container,
            std::path::Path::new(&args.src),
            path,
            args.archive,
        )?,
    }
    Ok(())
}

fn prune(ctx: &Context, args: PruneArgs) -> Result<()> {
    if !args.force && !super::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let report = container::prune(&ctx.store)?;
    let mut out = io::stdout().lock();
    if !report.deleted.is_empty() {
        writeln!(out, "Deleted Containers:")?;
        for id in &report.deleted {
            writeln!(out, "{id}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        rimg::format::human_size4(report.reclaimed)
    )?;
    Ok(())
}

fn export(ctx: &Context, args: ExportArgs) -> Result<()> {
    match &args.output {
        Some(path) => container::export_to_path(&ctx.store, &args.container, path)?,
        None => {
            refuse_terminal_output()?;
            let out = container::export(
                &ctx.store,
                &args.container,
                io::BufWriter::new(io::stdout().lock()),
            )?;
            out.into_inner().map_err(|e| e.into_error())?.flush()?;
        }
    }
    Ok(())
}
