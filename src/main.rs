//! The `rimg` command line: parses arguments, opens one context, hands the
//! command to its group's file under `cli/`, and maps errors to Docker's
//! exit codes.

mod cli;

use clap::{CommandFactory, Parser, Subcommand};
use cli::{archive, build, containers, images, manifest, registry, system, Context};
use std::io::{self, Write};
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

/// Every command: those that work on the store, and those that do not
/// open it.
#[derive(Subcommand)]
enum Command {
    // Boxed: the store's commands carry far more arguments than the rest.
    #[command(flatten)]
    Store(Box<StoreCommand>),
    /// Show the rimg version information
    Version(system::VersionArgs),
    /// Print a shell completion script (bash, zsh or fish)
    Completion(system::CompletionArgs),
}

/// The group commands (`image`, `container`, …) and Docker's top-level
/// shortcuts for their members.
#[derive(Subcommand)]
enum StoreCommand {
    /// List images
    Images(images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Return low-level information on images
    Inspect(images::InspectArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Manage images
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Manage rimg
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Run a command in rimg's user and mount namespaces
    Unshare(system::UnshareArgs),
    #[command(flatten)]
    Containers(containers::ContainerCommand),
    #[command(flatten)]
    Build(build::BuildCommand),
    /// Import the contents from a tarball to create a filesystem image
    Import(archive::ImportArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(containers::ContainerCommand),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Authenticate to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Search the Docker Hub for images
    Search(registry::SearchArgs),
    /// Manage manifests and manifest lists
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(e, Cli::command()),
    };
    let result = match cli.command {
        Command::Store(command) => Context::open(cli.root).and_then(|ctx| dispatch(&ctx, *command)),
        Command::Version(args) => system::version(args),
        Command::Completion(args) => system::completion(args, &mut Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = io::stdout().flush();
            cli::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

fn dispatch(ctx: &Context, command: StoreCommand) -> anyhow::Result<ExitCode> {
    use images::ImageCommand as I;
    match command {
        StoreCommand::Images(args) => images::run(ctx, I::Ls(args)),
        StoreCommand::Tag(args) => images::run(ctx, I::Tag(args)),
        StoreCommand::Rmi(args) => images::run(ctx, I::Rm(args)),
        StoreCommand::Inspect(mut args) => {
            args.any_object = true;
            images::run(ctx, I::Inspect(args))
        }
        StoreCommand::History(args) => images::run(ctx, I::History(args)),
        StoreCommand::Save(args) => images::run(ctx, I::Save(args)),
        StoreCommand::Load(args) => images::run(ctx, I::Load(args)),
        StoreCommand::Import(args) => images::run(ctx, I::Import(args)),
        StoreCommand::Image(command) => images::run(ctx, command),
        StoreCommand::System(command) => system::run(ctx, command),
        StoreCommand::Info(args) => system::info(ctx, args),
        StoreCommand::Unshare(args) => system::unshare(ctx, args),
        StoreCommand::Containers(command) => containers::run(ctx, command),
        StoreCommand::Build(command) => build::run(ctx, command),
        StoreCommand::Container(command) => containers::run(ctx, command),
        StoreCommand::Pull(args) => registry::pull(ctx, args),
        StoreCommand::Push(args) => registry::push(ctx, args),
        StoreCommand::Login(args) => registry::login(ctx, args),
        StoreCommand::Logout(args) => registry::logout(args),
        StoreCommand::Search(args) => registry::search(ctx, args),
        StoreCommand::Manifest(command) => manifest::run(ctx, command),
    }
}
