//! One file per command group, as cargo's `commands/`: each holds its
//! clap `Args` and a `run` that turns them into library calls and prints
//! what they return. Behaviour belongs in the library, not here.

pub mod archive;
pub mod build;
pub mod containers;
pub mod images;
pub mod manifest;
pub mod registry;
pub mod run;
pub mod system;

use anyhow::{Context as _, Result};
use rimg::digest::Digest;
use rimg::format;
use rimg::interrupt::Stop;
use rimg::registry::{Client, DockerConfig, RegistryConfig};
use rimg::store::{self, Store};
use serde_json::Value;
use std::cell::OnceCell;
use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;

/// What every command may need, opened once: the store, and an async
/// runtime started only by the commands that talk to a registry.
pub struct Context {
    pub store: Store,
    runtime: OnceCell<tokio::runtime::Runtime>,
}

impl Context {
    pub fn open(root: Option<PathBuf>) -> Result<Context> {
        let root = std::path::absolute(root.unwrap_or_else(store::default_root))
            .context("finding the image store")?;
        // Without root, rimg works in its user namespace (before any thread
        // starts: only a single-threaded process may join one). Without it
        // the images can still be handled, not containers.
        if rimg::runtime::userns::wanted() {
            if let Err(e) = rimg::runtime::userns::enter(&root) {
                eprintln!("WARNING: {:#}", anyhow::Error::new(e));
            }
        }
        let store = Store::open(&root)
            .with_context(|| format!("opening the image store at {}", root.display()))?;
        Ok(Context {
            store,
            runtime: OnceCell::new(),
        })
    }

    /// Runs async library work to completion.
    pub fn block_on<F: Future>(&self, work: F) -> Result<F::Output> {
        if self.runtime.get().is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let _ = self.runtime.set(runtime);
        }
        let runtime = self.runtime.get().context("starting the async runtime")?;
        Ok(runtime.block_on(work))
    }

    /// Runs async library work unless SIGINT or SIGTERM comes first; then
    /// the work is dropped, `kept` (one line saying what was kept) goes to
    /// stderr and `Err` carries the exit code Docker gives (130, 143).
    /// Dropped, the work's temporary files and leases go and partial
    /// downloads stay: the runtime, dropped with the context, waits for
    /// the threads still writing them.
    pub fn block_on_interruptible<F: Future>(
        &self,
        work: F,
        kept: &str,
    ) -> Result<Result<F::Output, ExitCode>> {
        Ok(self
            .until_signal(work)?
            .map_err(|code| interrupted(code, kept)))
    }

    /// Runs synchronous library work on a thread, through a store handle
    /// that a SIGINT or SIGTERM stops (see `rimg::interrupt`): the work
    /// then fails within a chunk, removing its temporary files as it
    /// unwinds, and is waited for before `kept` is printed and `Err`
    /// carries Docker's exit code, as for
    /// [`block_on_interruptible`](Self::block_on_interruptible). A second
    /// signal while it unwinds ends the process at once.
    pub fn run_interruptible<T: Send + 'static>(
        &self,
        work: impl FnOnce(Store) -> T + Send + 'static,
        kept: &str,
    ) -> Result<Result<T, ExitCode>> {
        let stop = Stop::default();
        let store = self.store.stopped_by(&stop);
        let (done, finished) = tokio::sync::oneshot::channel();
        let (ending, ended) = tokio::sync::oneshot::channel::<()>();
        let worker = thread::spawn(move || {
            // Dropped as the thread ends, whether the work returns or panics.
            let _ending = ending;
            let _ = done.send(work(store));
        });
        let outcome = self.until_signal(finished)?;
        if outcome.is_err() {
            stop.request();
            // A write to a pipe nobody reads never returns to see the
            // stop: a signal sent again is obeyed at once, as the default
            // action would be.
            if let Err(code) = self.until_signal(ended)? {
                eprintln!("interrupted again: stopped at once, temporary files may be left");
                std::process::exit(code.into());
            }
        }
        // The work ends either way now; a panic in it is passed on.
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(match outcome {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(_)) => anyhow::bail!("the work ended without a result"),
            Err(code) => Err(interrupted(code, kept)),
        })
    }

    /// [`run_interruptible`](Self::run_interruptible) for work that makes
    /// an image (`commit`, `import`): prints the new image's ID.
    pub fn make_image<E>(
        &self,
        work: impl FnOnce(Store) -> Result<Digest, E> + Send + 'static,
        kept: &str,
    ) -> Result<ExitCode>
    where
        E: Send + 'static,
        anyhow::Error: From<E>,
    {
        match self.run_interruptible(work, kept)? {
            Ok(id) => println!("{}", id?),
            Err(code) => return Ok(code),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `work`'s output, or the exit code of the signal that came first.
    fn until_signal<F: Future>(&self, work: F) -> Result<Result<F::Output, u8>> {
        use tokio::signal::unix::{signal, SignalKind};
        self.block_on(async {
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            Ok::<_, io::Error>(tokio::select! {
                done = work => Ok(done),
                _ = interrupt.recv() => Err(130),
                _ = terminate.recv() => Err(143),
            })
        })?
        .context("listening for SIGINT and SIGTERM")
    }

    /// A registry client with the user's Docker logins and rimg's registry
    /// settings (`config`, or rimg's `config.json` when `None`); warns when
    /// the logins file is readable by others.
    pub fn registry_client(&self, config: Option<RegistryConfig>) -> Result<Client> {
        let config = match config {
            Some(config) => config,
            None => RegistryConfig::load()?,
        };
        let docker_config = DockerConfig::load()?;
        if let Some(warning) = docker_config.permission_warning() {
            eprintln!("WARNING: {warning}");
        }
        Ok(Client::new(config, docker_config)?)
    }
}

/// Says what an interrupted command kept; its exit code follows from the
/// signal's.
fn interrupted(code: u8, kept: &str) -> ExitCode {
    eprintln!("{kept}");
    ExitCode::from(code)
}

/// Prints list items with the user's `--format`, or `default` when it is
/// empty or `table`.
pub fn print_list(
    format: &str,
    default: &str,
    header: &Value,
    items: &[Value],
) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    format::render_list(format, default, header, items, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// [`print_list`] of a command with `-q`: its default is `table`, or just
/// the IDs when quiet.
pub fn print_table(
    format: Option<&str>,
    quiet: bool,
    table: &str,
    header: &Value,
    items: &[Value],
) -> Result<ExitCode> {
    let default = if quiet { "{{.ID}}" } else { table };
    print_list(format.unwrap_or(""), default, header, items)
}

/// Prints per-argument failures, each with its causes, as `main` prints a
/// command's error.
pub fn print_errors<E>(errors: Vec<E>)
where
    anyhow::Error: From<E>,
{
    for e in errors {
        print_error(&anyhow::Error::from(e));
    }
}

/// `Error: ` and the error with its causes. Control characters are
/// escaped: messages quote what registries and archives said.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("Error: {}", format::escape_controls(&format!("{e:#}")));
}

/// A `--filter` value. Docker checks its `name=value` form as it parses
/// its flags (a flag error, exit 125), and the filter when it uses it.
pub fn filter_flag(raw: &str) -> Result<String, rimg::image::ImageError> {
    if raw.contains('=') {
        Ok(raw.to_owned())
    } else {
        Err(rimg::image::ImageError::BadFilterFormat)
    }
}

pub fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Docker refuses to write a tar stream to a terminal.
pub fn refuse_terminal_output() -> Result<()> {
    use std::io::IsTerminal;
    if io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}

/// Docker's `[y/N]` prompt; anything but y/yes (or no input) declines.
pub fn confirm(warning: &str) -> Result<bool> {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// A flag value its parser refused, in the words of Docker's flag library
/// (`invalid argument "dangling" for "-f, --filter" flag: bad format of
/// filter (expected name=value)`, then `See 'rimg images --help'.`), for
/// scripts that match them. `None` for other errors, or when the command
/// and flag cannot be told. `root` is the whole command line's definition.
pub fn docker_value_error(e: &clap::Error, root: clap::Command) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != clap::error::ErrorKind::ValueValidation {
        return None;
    }
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let value = context(ContextKind::InvalidValue)?;
    // `--filter <FILTER>`: the flag's long name.
    let long = context(ContextKind::InvalidArg)?
        .split(' ')
        .next()?
        .strip_prefix("--")?;
    // The command's path, as Docker names it: clap's error does not say,
    // so the arguments are walked again. Docker's shortcuts (`ps`) are
    // commands of their own, named as typed; below them, aliases take
    // the command's name (`image list` is `image ls`).
    let mut command = root;
    let mut path = vec![command.get_name().to_owned()];
    let mut args = std::env::args().skip(1);
    while command.has_subcommands() {
        let (typed, sub) = args.find_map(|arg| {
            let sub = command.find_subcommand(&arg).cloned()?;
            Some((arg, sub))
        })?;
        let top_level = path.len() == 1;
        path.push(if top_level {
            typed
        } else {
            sub.get_name().to_owned()
        });
        command = sub;
    }
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))?;
    let flag = match arg.get_short() {
        Some(short) => format!("-{short}, --{long}"),
        None => format!("--{long}"),
    };
    let cause = std::error::Error::source(e)?;
    Some(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {cause}\nSee '{} --help'.",
        path.join(" ")
    ))
}

/// Prints a command-line error; Docker exits 125 for flag errors and 1
/// for a wrong argument count. `root` is the whole command line's
/// definition.
pub fn usage_error(e: clap::Error, root: clap::Command) -> ExitCode {
    use clap::error::ErrorKind;
    match docker_value_error(&e, root) {
        Some(message) => eprintln!("{message}"),
        None => {
            let _ = e.print();
        }
    }
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
