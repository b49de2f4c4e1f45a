//! `run`, `exec`, `start`, `stop`, `kill`, `restart`, `logs`, `wait`
//! (also under `container`): containers that run, through an OCI runtime.

use super::{exit_code, print_errors, Context};
use anyhow::{bail, Context as _, Result};
use clap::{ArgAction, Args};
use rimg::container::run::{Engine, ExecOptions, LogOptions, RunFlags};
use rimg::container::{self, ContainerError, Containers, CreateOptions};
use rimg::image::Catalog;
use rimg::runtime::{Bind, Network};
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

/// The flags `run` and `create` share.
#[derive(Args, Default)]
pub struct ContainerFlags {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Bind mount a volume (HOST-PATH:CONTAINER-PATH[:ro])
    #[arg(short, long, value_name = "HOST:CONTAINER[:ro]")]
    volume: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Connect a container to a network (host or none)
    #[arg(long, alias = "net", default_value = "host")]
    network: String,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Publish a container's port(s) to the host (discarded: the host network is used)
    #[arg(short, long, value_name = "PORTS")]
    publish: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pull: String,
    /// The OCI runtime (runc, crun or a path)
    #[arg(long, env = "RIMG_RUNTIME")]
    runtime: Option<String>,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    flags: ContainerFlags,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// `create`'s arguments and `-d`.
#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing it
    #[arg(short, long, default_value_t = 10)]
    time: u64,
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

#[derive(Args)]
pub struct WaitArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct MonitorArgs {
    #[arg(long)]
    runtime: Option<String>,
    id: String,
}

/// `-e KEY` takes the value from rimg's environment, and is dropped when
/// it has none, as Docker's.
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

impl ContainerFlags {
    fn run_flags(&self, cmd: Vec<String>) -> Result<RunFlags> {
        let mut env = Vec::new();
        for file in &self.env_file {
            let text = std::fs::read_to_string(file).with_context(|| format!("open {file}"))?;
            env.extend(
                text.lines()
                    .map(str::trim_start)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .filter_map(env_entry),
            );
        }
        env.extend(self.env.iter().filter_map(|e| env_entry(e)));
        let network = match self.network.as_str() {
            "host" | "default" => Network::Host,
            "none" => Network::None,
            other => bail!(
                "network {other} not found: rimg has no networks of its own; use host or none"
            ),
        };
        if !self.publish.is_empty() {
            eprintln!("WARNING: Published ports are discarded when using host network mode");
        }
        let binds = self
            .volume
            .iter()
            .map(|v| parse_bind(v))
            .collect::<Result<_>>()?;
        Ok(RunFlags {
            cmd,
            entrypoint: self.entrypoint.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            network,
            binds,
            read_only: self.read_only,
        })
    }
}

/// `HOST:CONTAINER[:ro|rw]`; named volumes need a daemon's volume store.
fn parse_bind(spec: &str) -> Result<Bind> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts[..] {
        [s, d] => (s, d, ""),
        [s, d, m] => (s, d, m),
        _ => bail!("invalid volume specification: '{spec}'"),
    };
    if !source.starts_with('/') {
        bail!("invalid volume specification: '{spec}': rimg has no named volumes, give an absolute host path");
    }
    if !destination.starts_with('/') {
        bail!("invalid volume specification: '{spec}': mount path must be absolute");
    }
    let read_only = match mode {
        "" | "rw" => false,
        "ro" => true,
        _ => bail!("invalid mode: {mode}"),
    };
    let source = std::fs::canonicalize(source).with_context(|| {
        format!("invalid volume specification: '{spec}': bind source path does not exist: {source}")
    })?;
    Ok(Bind {
        source: source.to_string_lossy().into_owned(),
        destination: destination.to_string(),
        read_only,
    })
}

/// Docker's exit status for an error of rimg's own (125), or the 126/127
/// of a command that cannot be run.
fn failed(e: anyhow::Error) -> ExitCode {
    let code = match e.downcast_ref::<ContainerError>() {
        Some(ContainerError::CannotRun { code, .. }) => *code as u8,
        _ => 125,
    };
    super::print_error(&e);
    ExitCode::from(code)
}

/// Pulls `image` as `--pull` says: by default when the store lacks it,
/// as `docker run` does.
fn pull_as_asked(ctx: &Context, image: &str, pull: &str) -> Result<()> {
    if pull == "never" {
        return Ok(());
    }
    if pull == "missing" {
        let catalog = Catalog::load(&ctx.store)?;
        if catalog.find(image).is_ok() {
            return Ok(());
        }
        eprintln!("Unable to find image '{image}' locally");
    }
    super::registry::pull_image(ctx, image, None, true)
}

fn create_container(
    ctx: &Context,
    flags: &ContainerFlags,
    args: &[String],
    auto_remove: bool,
) -> Result<container::Container> {
    let (image, cmd) = args
        .split_first()
        .context("\"run\" requires at least 1 argument")?;
    pull_as_asked(ctx, image, &flags.pull)?;
    let options = CreateOptions {
        name: flags.name.clone(),
        flags: flags.run_flags(cmd.to_vec())?,
        auto_remove,
    };
    Ok(container::create(&ctx.store, image, &options)?)
}

pub fn create(ctx: &Context, args: CreateArgs) -> Result<ExitCode> {
    let created = match create_container(ctx, &args.flags, &args.args, args.flags.rm) {
        Ok(created) => created,
        Err(e) => return Ok(failed(e)),
    };
    println!("{}", created.id);
    Ok(ExitCode::SUCCESS)
}

/// Docker's refusal of `-it` when stdin is not a terminal.
fn check_tty(interactive: bool, tty: bool) -> Result<()> {
    use std::io::IsTerminal;
    if interactive && tty && !io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    Ok(())
}

pub fn run(ctx: &Context, args: RunArgs) -> Result<ExitCode> {
    let flags = &args.create.flags;
    check_tty(flags.interactive && !args.detach, flags.tty)?;
    let result = (|| -> Result<ExitCode> {
        let created = create_container(ctx, flags, &args.create.args, flags.rm)?;
        let engine = Engine::new(&ctx.store, flags.runtime.as_deref());
        if args.detach {
            let started = engine.start_detached(&created);
            if started.is_err() && flags.rm {
                let _ = container::remove(&ctx.store, &created.id, true);
            }
            started?;
            println!("{}", created.id);
            return Ok(ExitCode::SUCCESS);
        }
        let code = engine.start_attached(&created, flags.interactive);
        if flags.rm {
            let _ = container::remove(&ctx.store, &created.id, true);
        }
        Ok(ExitCode::from(code? as u8))
    })();
    Ok(result.unwrap_or_else(failed))
}

pub fn exec(ctx: &Context, args: ExecArgs) -> Result<ExitCode> {
    check_tty(args.interactive && !args.detach, args.tty)?;
    let result = (|| -> Result<ExitCode> {
        let (name, cmd) = args
            .args
            .split_first()
            .context("\"exec\" requires at least 2 arguments")?;
        let engine = Engine::new(&ctx.store, None);
        let found = engine.containers().find(name)?;
        let options = ExecOptions {
            cmd: cmd.to_vec(),
            env: args.env.iter().filter_map(|e| env_entry(e)).collect(),
            workdir: args.workdir.clone(),
            user: args.user.clone(),
            tty: args.tty,
            interactive: args.interactive,
            detach: args.detach,
        };
        Ok(ExitCode::from(engine.exec(&found, &options)? as u8))
    })();
    Ok(result.unwrap_or_else(|e| {
        let code = match e.downcast_ref::<ContainerError>() {
            Some(ContainerError::CannotRun { code, .. }) => *code as u8,
            _ => 1,
        };
        super::print_error(&e);
        ExitCode::from(code)
    }))
}

/// Applies `each` to every named container, printing the name of each
/// that succeeded and the error of each that did not, as Docker's
/// multi-container commands do.
fn for_each(
    ctx: &Context,
    names: &[String],
    mut each: impl FnMut(&Engine, &container::Container) -> Result<(), ContainerError>,
) -> Result<ExitCode> {
    let engine = Engine::new(&ctx.store, None);
    let mut success = true;
    for name in names {
        match engine
            .containers()
            .find(name)
            .and_then(|c| each(&engine, &c))
        {
            Ok(()) => println!("{name}"),
            Err(e) => {
                success = false;
                print_errors(vec![e]);
            }
        }
    }
    Ok(exit_code(success))
}

pub fn start(ctx: &Context, args: StartArgs) -> Result<ExitCode> {
    if args.attach || args.interactive {
        let [name] = &args.containers[..] else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let engine = Engine::new(&ctx.store, None);
        let result = engine
            .containers()
            .find(name)
            .and_then(|c| engine.start_attached(&c, args.interactive));
        return Ok(match result {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => failed(e.into()),
        });
    }
    for_each(ctx, &args.containers, |engine, c| {
        if engine.state(c)?.is_running() {
            return Ok(());
        }
        engine.start_detached(c)
    })
}

/// The image's `StopSignal`, else SIGTERM.
fn stop_signal(ctx: &Context, c: &container::Container) -> String {
    Catalog::load(&ctx.store)
        .ok()
        .and_then(|catalog| {
            let image = catalog.images().iter().find(|i| i.id == c.image_id)?;
            image.config.config.as_ref()?.stop_signal.get().cloned()
        })
        .unwrap_or_else(|| "TERM".into())
}

pub fn stop(ctx: &Context, args: StopArgs) -> Result<ExitCode> {
    for_each(ctx, &args.containers, |engine, c| {
        engine.stop(c, &stop_signal(ctx, c), Duration::from_secs(args.time))
    })
}

pub fn restart(ctx: &Context, args: StopArgs) -> Result<ExitCode> {
    for_each(ctx, &args.containers, |engine, c| {
        engine.stop(c, &stop_signal(ctx, c), Duration::from_secs(args.time))?;
        engine.start_detached(c)
    })
}

pub fn kill(ctx: &Context, args: KillArgs) -> Result<ExitCode> {
    let signal = args.signal.trim_start_matches("SIG").to_string();
    for_each(ctx, &args.containers, |engine, c| engine.kill(c, &signal))
}

pub fn wait(ctx: &Context, args: WaitArgs) -> Result<ExitCode> {
    let engine = Engine::new(&ctx.store, None);
    let mut success = true;
    for name in &args.containers {
        match engine.containers().find(name).and_then(|c| engine.wait(&c)) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                success = false;
                print_errors(vec![e]);
            }
        }
    }
    Ok(exit_code(success))
}

pub fn logs(ctx: &Context, args: LogsArgs) -> Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" => None,
        n => Some(
            n.parse()
                .with_context(|| format!("invalid value for \"tail\": {n}"))?,
        ),
    };
    let engine = Engine::new(&ctx.store, None);
    let found = engine.containers().find(&args.container)?;
    let options = LogOptions {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
    };
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    engine.logs(&found, &options, &mut out, &mut err)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The hidden `container-monitor ID`: what `run -d` leaves watching the
/// container.
pub fn monitor(ctx: &Context, args: MonitorArgs) -> Result<ExitCode> {
    let engine = Engine::new(&ctx.store, args.runtime.as_deref());
    let found = Containers::new(&ctx.store).find(&args.id)?;
    engine.monitor(&found)?;
    Ok(ExitCode::SUCCESS)
}
