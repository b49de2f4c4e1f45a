//! `build` (also `image build`) and `builder prune`.

use super::{confirm, Context};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use rimg::build::{self, source, BuildOptions, Host, HostError};
use rimg::format::human_size4;
use rimg::image;
use rimg::oci::Platform;
use rimg::runtime::Network as RunNetwork;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BuildCommand {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
}

#[derive(Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag", value_name = "NAME:TAG", value_parser = tag_flag)]
    tags: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short, long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Images to consider as cache sources
    #[arg(long, value_name = "IMAGE")]
    cache_from: Vec<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Set the networking mode for the RUN instructions during build (host or none)
    #[arg(long, default_value = "default")]
    network: String,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true)]
    rm: bool,
    /// Always remove intermediate containers (always)
    #[arg(long)]
    force_rm: bool,
    /// Set type of progress output (auto, plain, tty, classic; auto and tty print the classic form)
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Secret file to expose to the build (id=mysecret,src=/local/secret or id=mysecret,env=VAR)
    #[arg(long, value_name = "id=ID,src=FILE")]
    secret: Vec<String>,
    /// Output destination (type=docker|oci,dest=FILE): the image as an archive, also kept in the store
    #[arg(short, long, value_name = "type=docker|oci,dest=FILE")]
    output: Option<String>,
    /// The OCI runtime for RUN (runc, crun or a path)
    #[arg(long, env = "RIMG_RUNTIME")]
    runtime: Option<String>,
    /// PATH | URL | -
    context: String,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(ctx: &Context, command: BuildCommand) -> Result<ExitCode> {
    match command {
        BuildCommand::Build(args) | BuildCommand::Builder(BuilderCommand::Build(args)) => {
            build(ctx, *args)
        }
        BuildCommand::Builder(BuilderCommand::Prune(args)) => prune(ctx, args),
    }
}

/// The network for a build: base images pulled as `docker build` pulls
/// them (progress shown), ADD's URLs downloaded.
struct Network<'a> {
    ctx: &'a Context,
    quiet: bool,
}

impl Host for Network<'_> {
    fn pull(&self, name: &str, platform: Option<&Platform>) -> Result<(), HostError> {
        super::registry::pull_image(self.ctx, name, platform, self.quiet).map_err(|e| e.into())
    }

    fn download(&self, url: &str, dest: &Path) -> Result<Option<i64>, HostError> {
        Ok(self.ctx.block_on(source::download(url, dest))??)
    }
}

/// A `-t` value checked as Docker's flag parser checks it: a bad name is a
/// flag error (exit 125), before anything is read.
fn tag_flag(value: &str) -> Result<String, String> {
    image::parse_target(value)
        .map(|_| value.to_string())
        .map_err(|e| match e {
            image::ImageError::BadTarget { source, .. } => source.to_string(),
            other => other.to_string(),
        })
}

/// `K=V`, or `K` taking its value from the environment (left out when
/// unset there), as Docker reads `--build-arg`.
fn build_args(args: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(arg) {
                    out.insert(arg.clone(), v);
                }
            }
        }
    }
    out
}

fn labels(args: &[String]) -> BTreeMap<String, String> {
    args.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--output type=docker|oci,dest=FILE` (or a bare `FILE`): where the
/// archive goes. rimg's archive is both Docker's and an OCI layout.
fn output_file(output: &str) -> Result<PathBuf> {
    if !output.contains('=') {
        return Ok(PathBuf::from(output));
    }
    let mut kind = None;
    let mut dest = None;
    for field in output.split(',') {
        match field.split_once('=') {
            Some(("type", value)) => kind = Some(value),
            Some(("dest", value)) => dest = Some(value),
            _ => bail!("invalid --output {output:?}: type=docker|oci,dest=FILE is expected"),
        }
    }
    match (kind, dest) {
        (Some("docker" | "oci" | "tar") | None, Some(dest)) => Ok(PathBuf::from(dest)),
        (Some(other), _) if !matches!(other, "docker" | "oci" | "tar") => {
            bail!("--output type={other} is not supported: docker, oci and tar are")
        }
        _ => bail!("invalid --output {output:?}: dest=FILE is required"),
    }
}

/// `--secret id=ID,src=FILE` (or `env=VAR`, written to a private file in
/// `dir`): the files RUN's secret mounts give, by id.
fn secrets(args: &[String], dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for arg in args {
        let mut id = None;
        let mut file = None;
        for field in arg.split(',') {
            match field.split_once('=') {
                Some(("id", value)) => id = Some(value.to_string()),
                Some(("src" | "source", value)) => file = Some(PathBuf::from(value)),
                Some(("env", var)) => {
                    let value = std::env::var(var)
                        .with_context(|| format!("secret {arg:?}: {var} is not set"))?;
                    let path = dir.join(format!("secret-{}", out.len()));
                    rimg::durable::replace(&path, rimg::durable::Mode::Private, value.as_bytes())
                        .with_context(|| format!("writing secret {arg:?}"))?;
                    file = Some(path);
                }
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid secret {arg:?}: id=ID,src=FILE or id=ID,env=VAR is expected"),
            }
        }
        let file = file.with_context(|| format!("invalid secret {arg:?}: src=FILE is required"))?;
        let id = id.or_else(|| file.file_name().map(|n| n.to_string_lossy().into_owned()));
        out.insert(
            id.with_context(|| format!("invalid secret {arg:?}: id= is required"))?,
            file,
        );
    }
    Ok(out)
}

fn build(ctx: &Context, args: BuildArgs) -> Result<ExitCode> {
    let output = args.output.as_deref().map(output_file).transpose()?;
    // BuildKit's plain progress goes to stderr, as Docker's; `auto` and
    // `tty` are the classic output here (the seeds' form).
    let progress = match args.progress.as_str() {
        "plain" => build::report::Style::Plain,
        "auto" | "tty" | "classic" => build::report::Style::Classic,
        other => bail!("invalid progress mode {other:?}: auto, plain, tty or classic"),
    };
    let tags = args
        .tags
        .iter()
        .map(|t| image::parse_target(t))
        .collect::<Result<Vec<_>, _>>()?;
    let network = match args.network.as_str() {
        "default" | "host" => RunNetwork::Host,
        "none" => RunNetwork::None,
        other => bail!("network mode {other:?} not supported: rimg builds with host or none"),
    };
    let platform = args
        .platform
        .as_deref()
        .map(rimg::platform::parse)
        .transpose()?;
    let tmp = ctx.store.tmp_dir();
    let dockerfile_path = args.file.as_deref().filter(|f| *f != "-").map(Path::new);
    let dockerfile_stdin = match args.file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            Some(text)
        }
        _ => None,
    };
    let prepared = if args.context == "-" {
        source::from_stream(io::stdin().lock(), &tmp, dockerfile_path)?
    } else if source::is_git(&args.context) {
        source::from_git(&args.context, &tmp, dockerfile_path)?
    } else if args.context.starts_with("http://") || args.context.starts_with("https://") {
        ctx.block_on(source::from_url(&args.context, &tmp, dockerfile_path))??
    } else {
        source::from_dir(Path::new(&args.context), dockerfile_path, dockerfile_stdin)?
    };
    let secret_dir = tempfile::Builder::new()
        .prefix("secrets-")
        .tempdir_in(&tmp)
        .context("creating a directory for secrets")?;
    let secrets = secrets(&args.secret, secret_dir.path())?;
    let build_args = build_args(&args.build_args);
    let source_date_epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .map(|s| {
            s.parse::<i64>().with_context(|| {
                format!("invalid SOURCE_DATE_EPOCH {s:?}: seconds since 1970 are expected")
            })
        })
        .transpose()?;
    let options = BuildOptions {
        dockerfile: prepared.dockerfile.clone(),
        dockerfile_name: prepared.dockerfile_name.clone(),
        context: prepared.dir.clone(),
        ignore: prepared.ignore.clone(),
        tags: tags.clone(),
        target: args.target.clone(),
        build_args,
        no_cache: args.no_cache,
        cache_from: args.cache_from.clone(),
        pull: args.pull,
        quiet: args.quiet,
        labels: labels(&args.labels),
        progress,
        network,
        secrets,
        runtime: args.runtime.clone(),
        source_date_epoch,
        platform,
    };
    let host = Network {
        ctx,
        quiet: args.quiet,
    };
    let mut stdout = io::stdout();
    let mut stderr = io::stderr();
    let mut sink = io::sink();
    let out: &mut dyn Write = match (args.quiet, progress) {
        (true, _) => &mut sink,
        (false, build::report::Style::Plain) => &mut stderr,
        (false, build::report::Style::Classic) => &mut stdout,
    };
    // Ctrl-C or SIGTERM ends the build between steps (a RUN gets it too),
    // so its working directory goes and the finished steps stay cached.
    rimg::runtime::record_interrupts();
    let built = match build::build(&ctx.store, &host, &options, out) {
        Ok(built) => built,
        Err(build::BuildError::Interrupted(signal)) => {
            let _ = io::stdout().flush();
            eprintln!("build interrupted: the steps that finished are kept in the build cache");
            return Ok(ExitCode::from(128 + signal as u8));
        }
        // The command's status is in the message; the build's is 1, as
        // Docker's since BuildKit became its builder (20.10's classic
        // builder exited with the command's).
        Err(e) => return Err(e.into()),
    };
    let mut stdout = io::stdout().lock();
    if !built.unused_args.is_empty() && !args.quiet {
        writeln!(
            stdout,
            "[Warning] One or more build-args [{}] were not consumed",
            built.unused_args.join(" ")
        )?;
    }
    if args.quiet {
        writeln!(stdout, "{}", built.id)?;
    } else if progress == build::report::Style::Classic {
        writeln!(stdout, "Successfully built {}", &built.id.hex()[..12])?;
        for tag in &tags {
            writeln!(stdout, "Successfully tagged {}", tag.familiar_string())?;
        }
    }
    if let Some(path) = &output {
        let names: Vec<String> = if tags.is_empty() {
            vec![built.id.to_string()]
        } else {
            tags.iter().map(|t| t.to_string()).collect()
        };
        rimg::archive::SavePlan::new(&ctx.store, &names)?
            .write_to_path(path)
            .with_context(|| format!("writing the image to {}", path.display()))?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, built.id.to_string())
            .with_context(|| format!("writing the image ID to {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(ctx: &Context, args: PruneArgs) -> Result<ExitCode> {
    if !args.force && !confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(ExitCode::SUCCESS);
    }
    let pruned = ctx.store.cache_prune()?;
    // The steps' layer snapshots go with their records.
    rimg::container::sweep_snapshots(&ctx.store)?;
    let mut out = io::stdout().lock();
    if !pruned.records.is_empty() {
        writeln!(out, "Deleted build cache objects:")?;
        for key in &pruned.records {
            writeln!(out, "{}", &key.hex()[..25])?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size4(pruned.reclaimed)
    )?;
    Ok(ExitCode::SUCCESS)
}
