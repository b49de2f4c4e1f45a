//! The `rimg` command line: parses arguments, calls the library, prints.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use rimg::archive::{self, Loaded, SavePlan};
use rimg::store::{self, Store};
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rimg",
    version,
    about = "A daemonless, Docker-compatible container image tool"
)]
struct Cli {
    /// Image store directory (an OCI image layout)
    #[arg(long, global = true, env = "RIMG_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(LoadArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(LoadArgs),
}

#[derive(Args)]
struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args)]
struct LoadArgs {
    /// Read from tar archive file (plain or gzip, bzip2, xz, zstd compressed), instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output (rimg shows no progress, so this changes nothing)
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.root.unwrap_or_else(store::default_root);
    let store = Store::open(&root)
        .with_context(|| format!("opening the image store at {}", root.display()))?;
    match cli.command {
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => save(&store, args),
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => load(&store, args),
    }
}

fn save(store: &Store, args: SaveArgs) -> Result<ExitCode> {
    if args.output.is_none() && io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let plan = SavePlan::new(store, &args.images)?;
    match &args.output {
        Some(path) => plan
            .write_to_path(path)
            .with_context(|| format!("saving to {}", path.display()))?,
        None => {
            plan.write(io::BufWriter::with_capacity(1 << 20, io::stdout().lock()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load(store: &Store, args: LoadArgs) -> Result<ExitCode> {
    let loaded = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            archive::load(store, file)?
        }
        None if io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is empty")
        }
        None => archive::load(store, io::stdin().lock())?,
    };
    let mut out = io::stdout().lock();
    for item in loaded {
        match item {
            Loaded::Tag(name) => writeln!(out, "Loaded image: {}", name.familiar_string())?,
            Loaded::Id(id) => writeln!(out, "Loaded image ID: {id}")?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
