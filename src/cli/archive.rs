//! `save`, `load` and `import` (also `image save/load/import`): images to
//! and from tar archives.

use super::{refuse_terminal_output, Context};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use rimg::archive::{self, Loaded, SavePlan};
use rimg::image::import::{self, ImportOptions};
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file (plain or gzip, bzip2, xz, zstd compressed), instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output (rimg shows no progress, so this changes nothing)
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    #[arg(value_name = "file|URL|-")]
    source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub fn save(ctx: &Context, args: SaveArgs) -> Result<ExitCode> {
    if args.output.is_none() {
        refuse_terminal_output()?;
    }
    let kept = match &args.output {
        Some(_) => "save interrupted: the partial archive was removed",
        None => "save interrupted: the archive written so far is incomplete",
    };
    let saved = ctx.run_interruptible(
        move |store| -> Result<()> {
            let plan = SavePlan::new(&store, &args.images)?;
            match &args.output {
                Some(path) => plan
                    .write_to_path(path)
                    .with_context(|| format!("saving to {}", path.display()))?,
                None => {
                    plan.write(io::BufWriter::with_capacity(1 << 20, io::stdout().lock()))?;
                }
            }
            Ok(())
        },
        kept,
    )?;
    match saved {
        Ok(saved) => saved.map(|()| ExitCode::SUCCESS),
        Err(code) => Ok(code),
    }
}

pub fn load(ctx: &Context, args: LoadArgs) -> Result<ExitCode> {
    let input = match &args.input {
        Some(path) => File::open(path).with_context(|| format!("opening {}", path.display()))?,
        None if io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is empty")
        }
        None => File::from(
            io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("reading stdin")?,
        ),
    };
    let loaded = ctx.run_interruptible(
        move |store| archive::load_file(&store, input),
        "load interrupted: nothing was loaded, the store is as it was",
    )?;
    let loaded = match loaded {
        Ok(loaded) => loaded?,
        Err(code) => return Ok(code),
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

pub fn import(ctx: &Context, args: ImportArgs) -> Result<ExitCode> {
    let options = ImportOptions {
        changes: args.change,
        message: args.message,
        reference: args.reference,
    };
    let source = args.source;
    ctx.make_image(
        move |store| import::import(&store, &source, &options),
        "import interrupted: no image was made",
    )
}
