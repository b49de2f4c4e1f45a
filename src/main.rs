//! The `rimg` command line: parses arguments, calls the library, prints.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use rimg::archive::{self, Loaded, SavePlan};
use rimg::format::{self, human_size4};
use rimg::image::{self, Catalog, ImageError, ImageFilter, ListOptions, RemoveEvent};
use rimg::store::{self, Store};
use rimg::view;
use serde_json::Value;
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
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Return low-level information on images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(LoadArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage rimg
    #[command(subcommand)]
    System(SystemCommand),
    /// Download an image from a registry
    Pull(PullArgs),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(LoadArgs),
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Show disk usage
    Df(DfArgs),
    /// Verify every blob and image in the store; report orphans and leftovers
    Check(CheckArgs),
}

#[derive(Args)]
struct ImagesArgs {
    /// Show all images (rimg keeps no intermediate images, so this changes nothing)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

#[derive(Args)]
struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Maximum number of layers downloaded at once
    #[arg(long, value_name = "N", default_value_t = rimg::pull::DEFAULT_MAX_CONCURRENT_DOWNLOADS)]
    max_concurrent_downloads: usize,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

#[derive(Args)]
struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

#[derive(Args)]
struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (rimg keeps no parent images)
    #[arg(long)]
    no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args)]
struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args)]
struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Args)]
struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// Remove corrupt and orphaned blobs and leftover temporary files
    #[arg(long)]
    repair: bool,
}

#[derive(Args)]
struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Docker exits 125 for flag errors and 1 for a wrong argument count.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        ErrorKind::MissingRequiredArgument
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::TooFewValues
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::MissingSubcommand => ExitCode::FAILURE,
        _ => ExitCode::from(125),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.root.unwrap_or_else(store::default_root);
    let store = Store::open(&root)
        .with_context(|| format!("opening the image store at {}", root.display()))?;
    match cli.command {
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => images(&store, args),
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            image::tag(&store, &args.source, &args.target)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => rmi(&store, args),
        Command::Inspect(args) | Command::Image(ImageCommand::Inspect(args)) => {
            inspect(&store, args)
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            history(&store, args)
        }
        Command::Image(ImageCommand::Prune(args)) => prune(&store, args),
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => save(&store, args),
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => load(&store, args),
        Command::System(SystemCommand::Df(args)) => system_df(&store, args),
        Command::System(SystemCommand::Check(args)) => system_check(&store, args),
        Command::Pull(args) => pull(&store, args),
    }
}

fn images(store: &Store, args: ImagesArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(store)?;
    let mut filter = ImageFilter::parse(&args.filter, &catalog)?;
    if let Some(reference) = &args.reference {
        filter.add_reference(reference);
    }
    let custom = args.format.as_deref().filter(|f| *f != "table");
    let digests = args.digests || custom.is_some_and(|f| f.contains("{{.Digest}}"));
    let rows = image::list(&catalog, &ListOptions { filter, digests });
    let now = Utc::now();
    let items: Vec<Value> = rows
        .iter()
        .map(|row| view::image_row(row, !args.no_trunc, now))
        .collect();
    let default = if args.quiet {
        "{{.ID}}"
    } else if args.digests {
        view::IMAGES_TABLE_DIGESTS
    } else {
        view::IMAGES_TABLE
    };
    print_list(
        custom.unwrap_or(""),
        default,
        &view::images_header(),
        &items,
    )
}

/// Prints list items with the user's `--format`, or `default` when it is
/// empty or `table`.
fn print_list(format: &str, default: &str, header: &Value, items: &[Value]) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    format::render_list(format, default, header, items, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn rmi(store: &Store, args: RmiArgs) -> Result<ExitCode> {
    let results = image::remove_images(store, &args.images, args.force)?;
    let mut out = io::stdout().lock();
    let mut errors = Vec::new();
    let mut fatal = false;
    for (_, result) in results {
        match result {
            Ok(events) => {
                for event in events {
                    match event {
                        RemoveEvent::Untagged(name) => writeln!(out, "Untagged: {name}")?,
                        RemoveEvent::Deleted(digest) => writeln!(out, "Deleted: {digest}")?,
                    }
                }
            }
            Err(e) => {
                fatal |= !matches!(e, ImageError::NotFound(_));
                errors.push(e);
            }
        }
    }
    out.flush()?;
    let failed = !errors.is_empty();
    print_errors(errors);
    // Like Docker, `-f` forgives images that are already gone.
    Ok(if !failed || (args.force && !fatal) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints per-argument failures, each with its causes, as `main` prints
/// a command's error.
fn print_errors(errors: Vec<ImageError>) {
    for e in errors {
        eprintln!("Error: {:#}", anyhow::Error::from(e));
    }
}

fn inspect(store: &Store, args: InspectArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(store)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for arg in &args.images {
        match catalog.find(arg) {
            Ok(r) => found.push(view::inspect(catalog.image(&r))),
            Err(e) => errors.push(e),
        }
    }
    let mut out = io::stdout().lock();
    format::render_inspect(args.format.as_deref().unwrap_or(""), &found, &mut out)?;
    out.flush()?;
    let failed = !errors.is_empty();
    print_errors(errors);
    Ok(if !failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn history(store: &Store, args: HistoryArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(store)?;
    let found = catalog.find(&args.image)?;
    let image = catalog.image(&found);
    let sizes = image
        .manifest
        .layers
        .iter()
        .map(|l| store.layer_info(l).map(|i| i.size))
        .collect::<Result<Vec<u64>, _>>()?;
    let rows = view::history_rows(image, &sizes, args.human, !args.no_trunc, Utc::now());
    let default = if args.quiet {
        "{{.ID}}"
    } else {
        view::HISTORY_TABLE
    };
    print_list(
        args.format.as_deref().unwrap_or(""),
        default,
        &view::history_header(),
        &rows,
    )
}

fn prune(store: &Store, args: PruneArgs) -> Result<ExitCode> {
    let filters = image::PruneFilter::parse(&args.filter)?;
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !confirm(warning)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let report = image::prune(store, args.all, |i| !filters.matches(i))?;
    let mut out = io::stdout().lock();
    if !report.events.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for event in &report.events {
            match event {
                RemoveEvent::Untagged(name) => writeln!(out, "untagged: {name}")?,
                RemoveEvent::Deleted(digest) => writeln!(out, "deleted: {digest}")?,
            }
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size4(report.reclaimed)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's `[y/N]` prompt; anything but y/yes (or no input) declines.
fn confirm(warning: &str) -> Result<bool> {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn system_df(store: &Store, args: DfArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(store)?;
    let usage = image::disk_usage(store, &catalog)?;
    print_list(
        args.format.as_deref().unwrap_or(""),
        view::DF_TABLE,
        &view::df_header(),
        &view::df_rows(&usage),
    )
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
        None => archive::load(store, io::stdin())?,
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

fn system_check(store: &Store, args: CheckArgs) -> Result<ExitCode> {
    let report = store.check(args.repair)?;
    let mut out = io::stdout().lock();
    for problem in &report.repaired {
        writeln!(out, "repaired: {problem}")?;
    }
    for problem in &report.problems {
        writeln!(out, "{problem}")?;
    }
    writeln!(
        out,
        "checked {} blobs and {} index entries: {}",
        report.blobs,
        report.entries,
        match report.problems.len() {
            0 => "the store is consistent".to_string(),
            n => format!("{n} problem(s) found"),
        }
    )?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn pull(store: &Store, args: PullArgs) -> Result<ExitCode> {
    use rimg::pull::{self, PullOptions};
    use rimg::reference::Reference;
    use rimg::registry::{Client, DockerConfig, RegistryConfig};
    let reference = if args.all_tags {
        Reference::parse(&args.name)?
    } else {
        Reference::parse_with_default_tag(&args.name)?
    };
    let options = PullOptions {
        all_tags: args.all_tags,
        platform: args
            .platform
            .as_deref()
            .map(pull::parse_platform)
            .transpose()?,
        max_concurrent_downloads: args.max_concurrent_downloads,
    };
    let client = Client::new(RegistryConfig::load()?, DockerConfig::load()?)?;
    let progress = rimg::progress::Progress::new(args.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let canonical =
        runtime.block_on(pull::pull(store, &client, &reference, &options, &progress))?;
    println!("{canonical}");
    Ok(ExitCode::SUCCESS)
}
