//! The `rimg` command line: parses arguments, calls the library, prints.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use rimg::archive::{self, Loaded, SavePlan};
use rimg::container::{self, CommitOptions, ContainerError, Containers};
use rimg::format::{self, human_size4};
use rimg::image::import::ImportOptions;
use rimg::image::{self, Catalog, ImageError, ImageFilter, ListOptions, RemoveEvent, Sizes};
use rimg::store::{self, Store};
use rimg::view;
use serde_json::Value;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
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
    /// Create a working container: the image's layers unpacked into a directory
    Create(CreateArgs),
    /// List containers (rimg's containers never run, so all are listed)
    Ps(PsArgs),
    /// Print the path of a container's root filesystem
    Mount(MountArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Manage manifests and manifest lists
    #[command(subcommand)]
    Manifest(ManifestCommand),
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(ManifestInspectArgs),
}

#[derive(Args)]
struct ManifestInspectArgs {
    /// Output additional info including layers and platform
    #[arg(short, long)]
    verbose: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    #[arg(value_name = "MANIFEST")]
    name: String,
}

#[derive(Subcommand)]
enum ContainerCommand {
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
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
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
    #[arg(long, value_name = "N", default_value_t = rimg::image::pull::DEFAULT_MAX_CONCURRENT_DOWNLOADS)]
    max_concurrent_downloads: usize,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

#[derive(Args)]
struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Maximum number of layers uploaded at once
    #[arg(long, value_name = "N", default_value_t = rimg::image::push::DEFAULT_MAX_CONCURRENT_UPLOADS)]
    max_concurrent_uploads: usize,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

#[derive(Args)]
struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

#[derive(Args)]
struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    server: Option<String>,
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
struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    image: String,
}

#[derive(Args)]
struct PsArgs {
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
}

#[derive(Args)]
struct MountArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
struct RmArgs {
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
struct DiffArgs {
    container: String,
}

#[derive(Args)]
struct CommitArgs {
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
struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

#[derive(Args)]
struct ImportArgs {
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
        Command::Create(args) | Command::Container(ContainerCommand::Create(args)) => {
            let created = container::create(&store, &args.image, args.name.as_deref())?;
            println!("{}", created.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ps(args) | Command::Container(ContainerCommand::Ls(args)) => ps(&store, args),
        Command::Mount(args) | Command::Container(ContainerCommand::Mount(args)) => {
            mount(&store, args)
        }
        Command::Rm(args) | Command::Container(ContainerCommand::Rm(args)) => rm(&store, args),
        Command::Diff(args) | Command::Container(ContainerCommand::Diff(args)) => {
            let mut out = io::stdout().lock();
            for change in container::diff(&store, &args.container)? {
                writeln!(out, "{}", change.line())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Commit(args) | Command::Container(ContainerCommand::Commit(args)) => {
            let options = CommitOptions {
                author: args.author,
                message: args.message,
                changes: args.change,
                reference: args.reference,
            };
            let id = container::commit(&store, &args.container, &options)?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) | Command::Container(ContainerCommand::Export(args)) => {
            export(&store, args)
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            let options = ImportOptions {
                changes: args.change,
                message: args.message,
                reference: args.reference,
            };
            let id = image::import::import(&store, &args.source, &options)?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Pull(args) => pull(&store, args),
        Command::Push(args) => push(&store, args),
        Command::Login(args) => login(args),
        Command::Logout(args) => logout(args),
        Command::Manifest(ManifestCommand::Inspect(args)) => manifest_inspect(args),
    }
}

fn ps(store: &Store, args: PsArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(store)?;
    let now = Utc::now();
    let items: Vec<Value> = Containers::new(store)
        .list()?
        .iter()
        .map(|c| view::container_row(c, &catalog, !args.no_trunc, now))
        .collect();
    let default = if args.quiet {
        "{{.ID}}"
    } else {
        view::PS_TABLE
    };
    let _ = args.all;
    print_list(
        args.format.as_deref().unwrap_or(""),
        default,
        &view::ps_header(),
        &items,
    )
}

fn mount(store: &Store, args: MountArgs) -> Result<ExitCode> {
    let containers = Containers::new(store);
    for arg in &args.containers {
        let found = containers.find(arg)?;
        let rootfs = containers.rootfs(&found);
        let path = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(store: &Store, args: RmArgs) -> Result<ExitCode> {
    let _ = args.volumes;
    let mut failed = false;
    for arg in &args.containers {
        match container::remove(store, arg) {
            Ok(()) => println!("{arg}"),
            Err(ContainerError::NotFound(_)) if args.force => {}
            Err(e) => {
                failed = true;
                eprintln!("Error: {:#}", anyhow::Error::from(e));
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Like `docker export`, refuses to write a tar stream to a terminal.
fn export(store: &Store, args: ExportArgs) -> Result<ExitCode> {
    match &args.output {
        Some(path) => container::export_to_path(store, &args.container, path)?,
        None => {
            if io::stdout().is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let out = container::export(
                store,
                &args.container,
                io::BufWriter::new(io::stdout().lock()),
            )?;
            out.into_inner().map_err(|e| e.into_error())?.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let mut sizes = Sizes::new(store);
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let size = sizes.image(row.image)?;
        items.push(view::image_row(row, size, !args.no_trunc, now));
    }
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
    let results = image::remove_images(store, &args.images, args.force, || {
        Ok(container::image_users(store)?)
    })?;
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
    let mut sizes = Sizes::new(store);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for arg in &args.images {
        match catalog.find(arg) {
            Ok(r) => {
                let image = catalog.image(&r);
                found.push(view::inspect(image, sizes.image(image)?));
            }
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
        .map(|l| store.layer_size(l))
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
    // Images containers use are never pruned; asked under prune's lock.
    let users = std::cell::OnceCell::new();
    let report = image::prune(store, args.all, |i| {
        // If the containers cannot be listed, nothing is pruned.
        let users = users.get_or_init(|| container::image_users(store).ok());
        !filters.matches(i) || users.as_ref().is_none_or(|u| u.contains_key(&i.id))
    })?;
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
    let users = container::image_users(store)?;
    let mut usage = image::disk_usage(store, &catalog, &users)?;
    let containers = Containers::new(store).list()?;
    usage.containers = containers.len();
    for c in &containers {
        usage.containers_size += container::size_rw(store, c)?;
    }
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

/// The size of a regular file; None for pipes and the like.
fn regular_file_size(file: &File) -> Option<u64> {
    file.metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

fn load(store: &Store, args: LoadArgs) -> Result<ExitCode> {
    let loaded = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let size = regular_file_size(&file);
            archive::load(store, file, size)?
        }
        None if io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is empty")
        }
        None => {
            // `< archive.tar.zst` is a file too, whose size bounds it.
            let size = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .and_then(|fd| regular_file_size(&File::from(fd)));
            archive::load(store, io::stdin(), size)?
        }
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
    use rimg::image::pull::{self, PullOptions};
    use rimg::reference::Reference;
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
            .map(rimg::platform::parse)
            .transpose()?,
        max_concurrent_downloads: args.max_concurrent_downloads,
    };
    let client = registry_client()?;
    let progress = rimg::progress::Progress::new(args.quiet);
    let canonical =
        runtime()?.block_on(pull::pull(store, &client, &reference, &options, &progress))?;
    println!("{canonical}");
    Ok(ExitCode::SUCCESS)
}

fn push(store: &Store, args: PushArgs) -> Result<ExitCode> {
    use rimg::image::push::{self, PushOptions};
    use rimg::reference::Reference;
    let reference = if args.all_tags {
        Reference::parse(&args.name)?
    } else {
        Reference::parse_with_default_tag(&args.name)?
    };
    if args.all_tags && reference.tag().is_some() {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    if !args.all_tags && !args.quiet && Reference::parse(&args.name)?.tag().is_none() {
        println!("Using default tag: latest");
    }
    let options = PushOptions {
        all_tags: args.all_tags,
        max_concurrent_uploads: args.max_concurrent_uploads,
    };
    let client = registry_client()?;
    let progress = rimg::progress::Progress::new(args.quiet);
    let pushed =
        runtime()?.block_on(push::push(store, &client, &reference, &options, &progress))?;
    if args.quiet {
        for p in pushed {
            println!("{}", p.reference);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn login(args: LoginArgs) -> Result<ExitCode> {
    use rimg::registry::{login, DockerConfig};
    let host = login::server_host(args.server.as_deref());
    let (username, password) = login_credentials(args)?;
    let client = registry_client()?;
    if let Err(e) = runtime()?.block_on(client.check_login(&host, &username, &password)) {
        anyhow::bail!("login attempt to {host} failed: {e}");
    }
    let config = DockerConfig::load()?;
    config.save_login(&host, &username, &password)?;
    if config.helper_for(&host).is_none() {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            config.path().display()
        );
    }
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// The username and password from the flags, stdin, or prompts on a
/// terminal (the password unechoed), as `docker login` takes them.
fn login_credentials(args: LoginArgs) -> Result<(String, String)> {
    use std::io::{BufRead, IsTerminal, Read};
    if args.password.is_some() && args.password_stdin {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let stdin = io::stdin();
    let mut password = args.password;
    if args.password_stdin {
        if args.username.is_none() {
            anyhow::bail!("Must provide --username with --password-stdin");
        }
        let mut text = String::new();
        stdin
            .lock()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        password = Some(text.trim_end_matches(['\n', '\r']).to_string());
    }
    let interactive = stdin.is_terminal();
    let username = match args.username {
        Some(username) => username,
        None if interactive => {
            print!("Username: ");
            io::stdout().flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => anyhow::bail!("Cannot perform an interactive login from a non TTY device"),
    };
    let password = match password {
        Some(password) => password,
        None if interactive => read_hidden("Password: ")?,
        None => anyhow::bail!("Cannot perform an interactive login from a non TTY device"),
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("Username and password are required");
    }
    Ok((username, password))
}

/// Reads a line from the terminal with echo off.
fn read_hidden(prompt: &str) -> Result<String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    print!("{prompt}");
    io::stdout().flush()?;
    let fd = io::stdin().as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_termios {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for the same fd.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    if have_termios {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    println!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn logout(args: LogoutArgs) -> Result<ExitCode> {
    use rimg::registry::{login, DockerConfig};
    let host = login::server_host(args.server.as_deref());
    let config = DockerConfig::load()?;
    let shown = if host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        &host
    };
    if config.erase_login(&host)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(ExitCode::SUCCESS)
}

fn manifest_inspect(args: ManifestInspectArgs) -> Result<ExitCode> {
    use rimg::reference::Reference;
    let reference = Reference::parse_with_default_tag(&args.name)?;
    let mut config = rimg::registry::RegistryConfig::load()?;
    if args.insecure {
        config
            .insecure_registries
            .push(reference.domain().to_string());
    }
    let client = registry_client_with(config)?;
    let json = runtime()?.block_on(rimg::manifest::inspect(&client, &reference, args.verbose))?;
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

/// A registry client with the user's Docker logins and rimg's registry
/// settings; warns when the logins file is readable by others.
fn registry_client() -> Result<rimg::registry::Client> {
    registry_client_with(rimg::registry::RegistryConfig::load()?)
}

fn registry_client_with(config: rimg::registry::RegistryConfig) -> Result<rimg::registry::Client> {
    use rimg::registry::{Client, DockerConfig};
    let docker_config = DockerConfig::load()?;
    if let Some(warning) = docker_config.permission_warning() {
        eprintln!("WARNING: {warning}");
    }
    Ok(Client::new(config, docker_config)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
