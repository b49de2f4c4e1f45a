use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use rimg::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rimg", version, about = "A daemonless, Docker-compatible image tool")]
struct Cli {
    /// The image store (an OCI image layout).
    #[arg(long, global = true, env = "RIMG_ROOT")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download an image from a registry
    Pull(PullArgs),
}

#[derive(Args)]
struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    name: String,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Maximum number of layers downloaded at once
    #[arg(long, default_value_t = rimg::pull::DEFAULT_MAX_CONCURRENT_DOWNLOADS)]
    max_concurrent_downloads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause added only if the message does not
/// already say it (most library errors quote their source).
fn message(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message = format!("{message}: {cause}");
        }
    }
    message
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = cli.root.unwrap_or_else(rimg::store::default_root);
    let store = Store::open(&root)?;
    match cli.command {
        Command::Pull(args) => pull(&store, args),
    }
}

fn pull(store: &Store, args: PullArgs) -> anyhow::Result<()> {
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
        platform: args.platform.as_deref().map(pull::parse_platform).transpose()?,
        max_concurrent_downloads: args.max_concurrent_downloads,
    };
    let client = Client::new(RegistryConfig::load()?, DockerConfig::load()?)?;
    let progress = rimg::progress::Progress::new(args.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let canonical = runtime.block_on(pull::pull(store, &client, &reference, &options, &progress))?;
    println!("{canonical}");
    Ok(())
}
