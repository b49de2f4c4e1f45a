//! `pull`, `push`, `login`, `logout` and `search`: talking to registries.

use super::Context;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use rimg::image::pull::{self, PullOptions};
use rimg::image::push::{self, PushOptions};
use rimg::oci::Platform;
use rimg::progress::Progress;
use rimg::reference::Reference;
use rimg::registry::search::{SearchFilter, DEFAULT_LIMIT};
use rimg::registry::{login, DockerConfig};
use rimg::view;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

#[derive(Args)]
pub struct PullArgs {
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
    #[arg(long, value_name = "N", default_value_t = pull::DEFAULT_MAX_CONCURRENT_DOWNLOADS)]
    max_concurrent_downloads: usize,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Maximum number of layers uploaded at once
    #[arg(long, value_name = "N", default_value_t = push::DEFAULT_MAX_CONCURRENT_UPLOADS)]
    max_concurrent_uploads: usize,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

#[derive(Args)]
pub struct LoginArgs {
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
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short, long, value_parser = super::filter_flag)]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = DEFAULT_LIMIT, allow_negative_numbers = true)]
    limit: i64,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// List the tags of the repository TERM names (podman's extension)
    #[arg(long)]
    list_tags: bool,
    #[arg(value_name = "TERM")]
    term: String,
}

#[derive(Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

pub fn pull(ctx: &Context, args: PullArgs) -> Result<ExitCode> {
    let (reference, _) = Reference::parse_for_transfer(&args.name, args.all_tags)?;
    let options = PullOptions {
        all_tags: args.all_tags,
        platform: args
            .platform
            .as_deref()
            .map(rimg::platform::parse)
            .transpose()?,
        max_concurrent_downloads: args.max_concurrent_downloads,
    };
    let client = ctx.registry_client(None)?;
    let progress = Progress::new(args.quiet);
    let pulled = pull::pull(&ctx.store, &client, &reference, &options, &progress);
    let kept = "pull interrupted: layers cut short are kept, the next pull resumes them";
    match ctx.block_on_interruptible(pulled, kept)? {
        Ok(pulled) => println!("{}", pulled?),
        Err(code) => return Ok(code),
    }
    Ok(ExitCode::SUCCESS)
}

/// Pulls `image` for `run` or `build`, whose store lacks it; the progress
/// is shown unless `quiet`.
pub fn pull_image(
    ctx: &Context,
    image: &str,
    platform: Option<&Platform>,
    quiet: bool,
) -> Result<()> {
    let (reference, _) = Reference::parse_for_transfer(image, false)?;
    let client = ctx.registry_client(None)?;
    let progress = Progress::new(quiet);
    let options = PullOptions {
        all_tags: false,
        platform: platform.cloned(),
        max_concurrent_downloads: pull::DEFAULT_MAX_CONCURRENT_DOWNLOADS,
    };
    ctx.block_on(pull::pull(
        &ctx.store, &client, &reference, &options, &progress,
    ))??;
    Ok(())
}

pub fn push(ctx: &Context, args: PushArgs) -> Result<ExitCode> {
    let (reference, default_tag) = Reference::parse_for_transfer(&args.name, args.all_tags)?;
    if default_tag && !args.quiet {
        println!("Using default tag: latest");
    }
    let options = PushOptions {
        all_tags: args.all_tags,
        max_concurrent_uploads: args.max_concurrent_uploads,
    };
    let client = ctx.registry_client(None)?;
    let progress = Progress::new(args.quiet);
    let pushed = push::push(&ctx.store, &client, &reference, &options, &progress);
    let kept =
        "push interrupted: blobs already uploaded stay in the registry, the next push skips them";
    let pushed = match ctx.block_on_interruptible(pushed, kept)? {
        Ok(pushed) => pushed?,
        Err(code) => return Ok(code),
    };
    if args.quiet {
        for p in pushed {
            println!("{}", p.reference);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn search(ctx: &Context, args: SearchArgs) -> Result<ExitCode> {
    let format = args.format.as_deref().unwrap_or("");
    let client = ctx.registry_client(None)?;
    if args.list_tags {
        let repository = Reference::parse(&args.term)?;
        let tags = ctx.block_on(client.search_tags(&repository, args.limit))??;
        let name = repository.name();
        let rows: Vec<_> = tags.iter().map(|tag| view::tag_row(&name, tag)).collect();
        return super::print_list(format, view::TAGS_TABLE, &view::tags_header(), &rows);
    }
    let filter = SearchFilter::parse(&args.filter)?;
    let results = ctx.block_on(client.search(&args.term, args.limit, &filter))??;
    let rows: Vec<_> = results
        .iter()
        .map(|r| view::search_row(r, !args.no_trunc))
        .collect();
    super::print_list(format, view::SEARCH_TABLE, &view::search_header(), &rows)
}

pub fn login(ctx: &Context, args: LoginArgs) -> Result<ExitCode> {
    let host = login::server_host(args.server.as_deref());
    let (username, password) = credentials(args)?;
    let client = ctx.registry_client(None)?;
    if let Err(e) = ctx.block_on(client.check_login(&host, &username, &password))? {
        bail!("login attempt to {host} failed: {e}");
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
fn credentials(args: LoginArgs) -> Result<(String, String)> {
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let stdin = io::stdin();
    let mut password = args.password;
    if args.password_stdin {
        if args.username.is_none() {
            bail!("Must provide --username with --password-stdin");
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
        None => bail!("Cannot perform an interactive login from a non TTY device"),
    };
    let password = match password {
        Some(password) => password,
        None if interactive => {
            print!("Password: ");
            io::stdout().flush()?;
            // rpassword echoes the newline itself, on the terminal.
            rpassword::read_password().context("reading the password")?
        }
        None => bail!("Cannot perform an interactive login from a non TTY device"),
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    Ok((username, password))
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode> {
    let host = login::server_host(args.server.as_deref());
    let config = DockerConfig::load()?;
    let shown = login::shown_server(&host);
    if config.erase_login(&host)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(ExitCode::SUCCESS)
}
