//! `container create/ls/mount/rm/diff/commit/export` (and `create`, `ps`,
//! `mount`, `rm`, `diff`, `commit`, `export`).

use super::{exit_code, print_errors, print_table, refuse_terminal_output, Context};
use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use rimg::container::{self, CommitOptions, ContainerError, Containers};
use rimg::image::{Catalog, Sizes};
use rimg::view;
use serde_json::Value;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Create a working container
    Create(CreateArgs),
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
}

#[derive(Args)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    image: String,
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (all are shown: rimg's containers never run)
    #[arg(short, long)]
    all: bool,
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
    /// Force the removal (containers never run; missing ones are not an error)
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
    /// Pause container during commit (nothing runs, so nothing to pause)
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pause: bool,
    container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
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
        ContainerCommand::Create(args) => {
            let created = container::create(store, &args.image, args.name.as_deref())?;
            println!("{}", created.id);
        }
        ContainerCommand::Ls(args) => return ps(ctx, args),
        ContainerCommand::Mount(args) => {
            let containers = Containers::new(store);
            for arg in &args.containers {
                let found = containers.find(arg)?;
                let rootfs = containers.rootfs(&found);
                let path = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
                println!("{}", path.display());
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
            let options = CommitOptions {
                author: args.author,
                message: args.message,
                changes: args.change,
                reference: args.reference,
            };
            println!("{}", container::commit(store, &args.container, &options)?);
        }
        ContainerCommand::Export(args) => export(ctx, args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn ps(ctx: &Context, args: PsArgs) -> Result<ExitCode> {
    let _ = args.all;
    let catalog = Catalog::load(&ctx.store)?;
    let now = Utc::now();
    // As the docker CLI: sizes cost a walk of each container, so they are
    // measured for -s, or when the format uses them (`{{.Size}}`, and
    // `json`, which prints every field).
    let format = args.format.as_deref().unwrap_or("");
    let sized = !args.quiet && (args.size || format.contains(".Size") || format.contains("json"));
    let mut sizes = Sizes::new(&ctx.store);
    let mut items = Vec::new();
    for c in Containers::new(&ctx.store).list()? {
        let mut row = view::container_row(&c, &catalog, !args.no_trunc, now);
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
        match container::remove(&ctx.store, arg) {
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
