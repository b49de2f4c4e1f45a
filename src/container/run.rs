//! Containers that run: `run`, `start`, `exec`, `stop`, `kill`, `wait`,
//! `logs`, through the OCI runtime driver in [`crate::runtime`].
//!
//! ```text
//! <root>/containers/<id>/bundle/config.json   the OCI runtime spec, written at each start
//! <root>/containers/<id>/etc/                 hosts, hostname, resolv.conf (bind-mounted)
//! <root>/containers/<id>/state.json           created / running / exited ([`State`])
//! <root>/containers/<id>/<id>-json.log        a detached container's output, Docker's json-file
//! ```
//!
//! A foreground `run` watches its container itself: the runtime inherits
//! the terminal and rimg records the exit. A detached one is watched by a
//! monitor, rimg started again in a session of its own (as podman's
//! conmon), which copies the output into the log and records the exit.

use super::state::{self, State, Status, Watcher};
use super::{io_context, Container, ContainerError, Containers, Result};
use crate::runtime::mounts::{self, Kind};
use crate::runtime::{self, spec, user, Bind, ContainerSpec, Network, ProcessConfig, Runtime};
use crate::store::Store;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Docker's default `PATH` for an image that sets none.
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `run`/`create` flags that shape the container.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    /// The command after the image name (replaces the image's `Cmd`).
    pub cmd: Vec<String>,
    /// `--entrypoint` (`""` clears the image's).
    pub entrypoint: Option<String>,
    /// `-e` and `--env-file` entries, already read.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub network: Network,
    pub binds: Vec<Bind>,
    pub read_only: bool,
}

/// The container's process and settings: the image's config with the
/// flags applied, as Docker merges them.
pub fn container_spec(
    config: Option<&crate::oci::RuntimeConfig>,
    flags: &RunFlags,
    id: &str,
) -> Result<ContainerSpec> {
    let image_entrypoint = config
        .and_then(|c| c.entrypoint.get())
        .cloned()
        .unwrap_or_default();
    let image_cmd = config
        .and_then(|c| c.cmd.get())
        .cloned()
        .unwrap_or_default();
    // A new entrypoint drops the image's Cmd, as Docker's.
    let (entrypoint, image_cmd) = match &flags.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (image_entrypoint, image_cmd),
    };
    let cmd = if flags.cmd.is_empty() {
        image_cmd
    } else {
        flags.cmd.clone()
    };
    // Empty args are refused when the container starts, as Docker's
    // daemon does; `create` of such an image still makes a container.
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    let hostname = match (&flags.hostname, flags.network) {
        (Some(h), _) => h.clone(),
        (None, Network::Host) => runtime::host_name(),
        (None, Network::None) => id[..12].to_string(),
    };
    let mut env: Vec<String> = config
        .and_then(|c| c.env.get())
        .cloned()
        .unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    set_env(&mut env, &format!("HOSTNAME={hostname}"));
    for entry in &flags.env {
        set_env(&mut env, entry);
    }
    let image_user = config
        .and_then(|c| c.user.get())
        .cloned()
        .unwrap_or_default();
    let image_dir = config
        .and_then(|c| c.working_dir.get())
        .cloned()
        .unwrap_or_default();
    Ok(ContainerSpec {
        process: ProcessConfig {
            args,
            env,
            cwd: flags.workdir.clone().unwrap_or(image_dir),
            user: flags.user.clone().unwrap_or(image_user),
            tty: flags.tty,
        },
        hostname,
        network: flags.network,
        binds: flags.binds.clone(),
        read_only: flags.read_only,
    })
}

/// Sets `KEY=value` in `env`, replacing an entry of the same key.
fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split('=').next().unwrap_or(entry);
    match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
        Some(existing) => *existing = entry.to_string(),
        None => env.push(entry.to_string()),
    }
}

/// Makes what the runtime mounts onto, and the working directory, before
/// the container's first snapshot, so they never show in `diff` or
/// `commit` (Docker keeps them in an init layer for the same reason).
pub(crate) fn prepare_rootfs(rootfs: &Path, spec: &ContainerSpec) -> Result<()> {
    let mut points: Vec<(&str, Kind)> = vec![
        ("/proc", Kind::Dir),
        ("/dev", Kind::Dir),
        ("/sys", Kind::Dir),
    ];
    points.extend(spec::ETC_FILES.iter().map(|f| (*f, Kind::File)));
    for bind in &spec.binds {
        let kind = if Path::new(&bind.source).is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        points.push((&bind.destination, kind));
    }
    if !spec.process.cwd.is_empty() {
        points.push((&spec.process.cwd, Kind::Dir));
    }
    for (path, kind) in points {
        mounts::ensure(rootfs, path, kind)?;
    }
    Ok(())
}

/// Why a command cannot run, checked in the rootfs before the runtime is
/// called, with Docker's exit codes: 127 not found, 126 not executable.
fn check_command(rootfs: &Path, process: &ProcessConfig) -> Result<()> {
    let program = process.args.first().ok_or(ContainerError::NoCommand)?;
    let not_found = |message: String| ContainerError::CannotRun { code: 127, message };
    if program.contains('/') {
        // A relative path is the working directory's, as execve sees it.
        let path = if program.starts_with('/') {
            program.clone()
        } else {
            format!("{}/{program}", process.cwd.trim_end_matches('/'))
        };
        return match mounts::executable_in(rootfs, &path) {
            Some(true) => Ok(()),
            Some(false) => Err(ContainerError::CannotRun {
                code: 126,
                message: format!("exec: \"{program}\": permission denied"),
            }),
            None => Err(not_found(format!(
                "exec: \"{program}\": stat {program}: no such file or directory"
            ))),
        };
    }
    let path = process
        .env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let found = path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .any(|dir| mounts::executable_in(rootfs, &format!("{dir}/{program}")) == Some(true));
    if found {
        Ok(())
    } else {
        Err(not_found(format!(
            "exec: \"{program}\": executable file not found in $PATH"
        )))
    }
}

/// Runs containers of one store with one OCI runtime.
pub struct Engine<'a> {
    store: &'a Store,
    containers: Containers,
    runtime_name: Option<String>,
}

impl<'a> Engine<'a> {
    /// `runtime`: `--runtime`/`RIMG_RUNTIME`, else the first found.
    pub fn new(store: &'a Store, runtime: Option<&str>) -> Engine<'a> {
        Engine {
            store,
            containers: Containers::new(store),
            runtime_name: runtime.map(str::to_string),
        }
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    fn runtime(&self, name: Option<&str>) -> Result<Runtime> {
        let name = name.or(self.runtime_name.as_deref());
        Ok(Runtime::find(name, &runtime::state_dir(self.store.root()))?)
    }

    /// The runtime that started `state`'s run (a container keeps its runtime).
    fn runtime_of(&self, state: &State) -> Result<Runtime> {
        self.runtime(state.runtime.as_deref())
    }

    fn state_lock(&self, container: &Container) -> Result<File> {
        Ok(crate::store::lock_file(
            &self.containers.dir(&container.id).join("state.lock"),
        )?)
    }

    /// The container's state, first ending a run whose watcher died.
    pub fn state(&self, container: &Container) -> Result<State> {
        let dir = self.containers.dir(&container.id);
        let state = State::read(&dir)?;
        if !state.is_orphaned() {
            return Ok(state);
        }
        let _lock = self.state_lock(container)?;
        self.state_locked(container)
    }

    /// [`Engine::state`] for a caller holding the state lock (a second
    /// flock of the same file in one process would wait for itself).
    fn state_locked(&self, container: &Container) -> Result<State> {
        let dir = self.containers.dir(&container.id);
        let mut state = State::read(&dir)?;
        if state.is_orphaned() {
            // Nobody is left to copy its output or record its end: end it
            // now, as a daemon's restart ends the containers it lost.
            if let Ok(runtime) = self.runtime_of(&state) {
                let _ = runtime.delete(&container.id);
            }
            state.status = Status::Exited;
            state.exit_code = 137;
            state.finished_at = Some(state::now());
            state.watcher = None;
            state.write(&dir)?;
        }
        Ok(state)
    }

    /// Writes the bundle for a start: the spec and the generated `/etc`
    /// files; checks the command can be run.
    fn bundle(&self, container: &Container, runtime: &Runtime) -> Result<PathBuf> {
        let spec = container.spec.as_ref().ok_or(ContainerError::NotRunnable)?;
        let dir = self.containers.dir(&container.id);
        let rootfs = self.containers.mounted_rootfs(container)?;
        check_command(&rootfs, &spec.process)?;
        Ok(runtime.write_bundle(spec, &rootfs, &dir)?)
    }

    /// Marks the container running under `watcher`; refuses one that is.
    fn begin(&self, container: &Container, runtime: &Runtime, watcher: Watcher) -> Result<()> {
        let _lock = self.state_lock(container)?;
        let dir = self.containers.dir(&container.id);
        let previous = self.state_locked(container)?;
        if previous.is_running() {
            return Err(ContainerError::AlreadyRunning(container.id.clone()));
        }
        // A leftover from a run that ended without its clean-up.
        let _ = runtime.delete(&container.id);
        State {
            status: Status::Running,
            watcher: Some(watcher),
            started_at: Some(state::now()),
            finished_at: None,
            exit_code: 0,
            error: None,
            runtime: Some(runtime.name().to_string()),
        }
        .write(&dir)
    }

    /// Records the end of a run and forgets it in the runtime.
    fn finish(
        &self,
        container: &Container,
        runtime: &Runtime,
        code: i32,
        error: Option<String>,
    ) -> Result<()> {
        let _ = runtime.delete(&container.id);
        let _lock = self.state_lock(container)?;
        let dir = self.containers.dir(&container.id);
        let mut state = State::read(&dir)?;
        state.status = Status::Exited;
        state.exit_code = code;
        state.finished_at = Some(state::now());
        state.watcher = None;
        state.error = error;
        state.write(&dir)
    }

    /// Records a start that failed before the runtime ran anything: the
    /// container stays as it was (created or exited), with the error.
    fn failed_start(&self, container: &Container, e: &ContainerError) -> Result<()> {
        let _lock = self.state_lock(container)?;
        let dir = self.containers.dir(&container.id);
        let mut state = State::read(&dir)?;
        state.error = Some(e.to_string());
        if let ContainerError::CannotRun { code, .. } = e {
            state.exit_code = *code;
        }
        state.write(&dir)
    }

    /// Starts the container in the foreground with rimg's own stdio (stdin
    /// only with `interactive`), and returns its exit code.
    pub fn start_attached(&self, container: &Container, interactive: bool) -> Result<i32> {
        let runtime = self.runtime(None)?;
        let bundle = match self.bundle(container, &runtime) {
            Ok(bundle) => bundle,
            Err(e) => {
                self.failed_start(container, &e)?;
                return Err(e);
            }
        };
        self.watch(
            container,
            &runtime,
            &bundle,
            Attach::Terminal { interactive },
        )
    }

    /// Runs the container and watches it to its end: copies its output into
    /// the json-file log (and, attached, to rimg's own stdout and stderr),
    /// forwards signals, and records how it ended. Returns its exit code,
    /// or the runtime's error when it could not start it.
    fn watch(
        &self,
        container: &Container,
        runtime: &Runtime,
        bundle: &Path,
        attach: Attach,
    ) -> Result<i32> {
        let watcher = Watcher::current().ok_or_else(|| {
            io_context("reading this process's start time")(io::ErrorKind::NotFound.into())
        })?;
        let tty = container.spec.as_ref().is_some_and(|s| s.process.tty);
        let (log, pid_file) = fresh_run_files(bundle);
        let json_log = self
            .containers
            .dir(&container.id)
            .join(format!("{}-json.log", container.id));
        let sink = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&json_log)
            .map_err(io_context(format!("opening {}", json_log.display())))?;
        let sink = Arc::new(Mutex::new(sink));
        let mut cmd = runtime.run(&container.id, bundle, &log, &pid_file);
        // What the runtime's stdio is, and the streams to copy to the log.
        let mut outputs: Vec<(Box<dyn io::Read + Send>, &'static str, bool)> = Vec::new();
        let mut pty_slave = None;
        match attach {
            Attach::Terminal { interactive } if !tty || has_terminal() => {
                if !interactive {
                    cmd.stdin(Stdio::null());
                }
                // With a terminal the runtime talks to it itself, as a
                // user expects of `run -it`; the log then stays empty.
                if !tty {
                    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                }
                // The runtime dies with rimg, so a killed `rimg run` leaves
                // no runtime process behind (the next `ps` ends the
                // container).
                set_parent_death_signal(&mut cmd);
            }
            // A terminal nobody sits at (`-dt`, or `-t` in a script): the
            // runtime gets a pseudo-terminal of ours as its console, and
            // what it shows is logged (and, attached, printed), as Docker
            // does.
            Attach::Terminal { .. } | Attach::Log if tty => {
                let (master, slave) = console(&mut cmd)?;
                outputs.push((
                    Box::new(File::from(master)),
                    "stdout",
                    attach != Attach::Log,
                ));
                pty_slave = Some(slave);
                if attach != Attach::Log {
                    set_parent_death_signal(&mut cmd);
                }
            }
            // Detached without a terminal (the arms above take the rest).
            _ => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
        }
        let echo = matches!(attach, Attach::Terminal { .. });
        self.begin(container, runtime, watcher)?;
        let spawned = cmd.spawn();
        // Only the runtime may hold the terminal's other end (the command
        // keeps copies of its stdio), so reading the master ends when it
        // exits.
        drop(cmd);
        drop(pty_slave);
        let mut child = match spawned {
            Ok(child) => child,
            Err(source) => {
                let e = runtime::RuntimeError::Spawn {
                    runtime: runtime.name().to_string(),
                    source,
                };
                self.finish(container, runtime, 125, Some(e.to_string()))?;
                return Err(e.into());
            }
        };
        if let Some(out) = child.stdout.take() {
            outputs.push((Box::new(out), "stdout", echo));
        }
        if let Some(err) = child.stderr.take() {
            outputs.push((Box::new(err), "stderr", echo));
        }
        let copiers: Vec<_> = outputs
            .into_iter()
            .map(|(stream, name, echo)| {
                let sink = Arc::clone(&sink);
                std::thread::spawn(move || copy_to_log(stream, name, &sink, echo))
            })
            .collect();
        let status = runtime::wait_forwarding(&mut child);
        for copier in copiers {
            let _ = copier.join();
        }
        let (code, error) = match status {
            Ok(status) => {
                let code = runtime::exit_code(status);
                let error = (code != 0).then(|| runtime::logged_error(&log)).flatten();
                (if error.is_some() { 125 } else { code }, error)
            }
            Err(e) => (125, Some(e.to_string())),
        };
        self.finish(container, runtime, code, error.clone())?;
        match error {
            Some(message) => Err(ContainerError::Runtime {
                runtime: runtime.name().to_string(),
                message,
            }),
            None => Ok(code),
        }
    }

    /// Starts the container detached, under a monitor: rimg itself, run
    /// again as `rimg --root ROOT container-monitor ID`. Returns once the
    /// container runs (or has already ended).
    pub fn start_detached(&self, container: &Container) -> Result<()> {
        let runtime = self.runtime(None)?;
        // Checked here too, so the error reaches the user's terminal.
        if let Err(e) = self.bundle(container, &runtime) {
            self.failed_start(container, &e)?;
            return Err(e);
        }
        let exe = std::env::current_exe().map_err(io_context("finding rimg's own executable"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(self.store.root())
            .args([
                "container-monitor",
                "--runtime",
                runtime.name(),
                &container.id,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        new_session(&mut cmd);
        let started = Instant::now();
        let dir = self.containers.dir(&container.id);
        let before = State::read(&dir)?;
        let (_, pid_file) = fresh_run_files(&dir.join("bundle"));
        let mut monitor = cmd
            .spawn()
            .map_err(io_context("starting the container's monitor"))?;
        // Back once the runtime has started the process (its PID file is
        // written), so an `exec` or `stop` right after finds it running.
        loop {
            let state = State::read(&dir)?;
            let ran = state.status == Status::Exited || pid_file.exists();
            if state != before && state.status != Status::Created && ran {
                return match (state.status, state.error) {
                    (Status::Exited, Some(message)) => Err(ContainerError::Runtime {
                        runtime: runtime.name().to_string(),
                        message,
                    }),
                    _ => Ok(()),
                };
            }
            if let Ok(Some(status)) = monitor.try_wait() {
                if !status.success() {
                    return Err(ContainerError::MonitorFailed(status.to_string()));
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(ContainerError::MonitorFailed(
                    "it did not start the container within 60 seconds".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The monitor's work: runs the container, copying its output into the
    /// log, and records its end; removes it afterwards if asked to.
    pub fn monitor(&self, container: &Container) -> Result<()> {
        let runtime = self.runtime(None)?;
        let bundle = self.bundle(container, &runtime)?;
        // How it ended is in its state; a start that failed is there too.
        let _ = self.watch(container, &runtime, &bundle, Attach::Log);
        if container.auto_remove {
            super::remove(self.store, &container.id, false)?;
        }
        Ok(())
    }

    /// Runs `work` with a running container's processes frozen (the
    /// runtime's pause, cgroup freezer), resuming them whatever happens.
    pub fn paused<T>(&self, container: &Container, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let state = self.state(container)?;
        if !state.is_running() {
            return work();
        }
        let runtime = self.runtime_of(&state)?;
        runtime
            .pause(&container.id)
            .map_err(|source| ContainerError::Pause { source })?;
        let result = work();
        let resumed = runtime.resume(&container.id);
        let value = result?;
        resumed?;
        Ok(value)
    }

    /// Sends `signal` to a running container.
    pub fn kill(&self, container: &Container, signal: &str) -> Result<()> {
        let state = self.state(container)?;
        if !state.is_running() {
            return Err(ContainerError::NotRunning(container.id.clone()));
        }
        Ok(self.runtime_of(&state)?.kill(&container.id, signal)?)
    }

    /// Waits until the container is no longer running, at most `timeout`;
    /// whether it stopped.
    fn wait_stopped(&self, container: &Container, timeout: Option<Duration>) -> Result<bool> {
        let started = Instant::now();
        loop {
            if !self.state(container)?.is_running() {
                return Ok(true);
            }
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `stop`: the image's stop signal (SIGTERM by default), then SIGKILL
    /// after `timeout`, as Docker.
    pub fn stop(&self, container: &Container, stop_signal: &str, timeout: Duration) -> Result<()> {
        let state = self.state(container)?;
        if !state.is_running() {
            return Ok(());
        }
        let runtime = self.runtime_of(&state)?;
        // It may end between the check and the signal.
        let _ = runtime.kill(&container.id, stop_signal);
        if !self.wait_stopped(container, Some(timeout))? {
            let _ = runtime.kill(&container.id, "KILL");
            self.wait_stopped(container, None)?;
        }
        Ok(())
    }

    /// `wait`: blocks until the container stops; its exit code.
    pub fn wait(&self, container: &Container) -> Result<i32> {
        self.wait_stopped(container, None)?;
        Ok(self.state(container)?.exit_code)
    }

    /// `exec`: runs another process in a running container, in the
    /// foreground (its exit code) or detached.
    pub fn exec(&self, container: &Container, options: &ExecOptions) -> Result<i32> {
        let state = self.state(container)?;
        if !state.is_running() {
            return Err(ContainerError::NotRunning(container.id.clone()));
        }
        let spec = container.spec.as_ref().ok_or(ContainerError::NotRunnable)?;
        let rootfs = self.containers.rootfs(container);
        let mut env = spec.process.env.clone();
        for entry in &options.env {
            set_env(&mut env, entry);
        }
        let process = ProcessConfig {
            args: options.cmd.clone(),
            env,
            cwd: options
                .workdir
                .clone()
                .unwrap_or_else(|| spec.process.cwd.clone()),
            user: options
                .user
                .clone()
                .unwrap_or_else(|| spec.process.user.clone()),
            tty: options.tty,
        };
        check_command(&rootfs, &process)?;
        let user = user::resolve_in(&rootfs, &process.user)?;
        let json =
            serde_json::to_vec(&spec::process(&process, &user)?).expect("a process serializes");
        let runtime = self.runtime_of(&state)?;
        let file = tempfile::Builder::new()
            .prefix("exec-")
            .suffix(".json")
            .tempfile_in(self.containers.dir(&container.id))
            .map_err(io_context("writing the exec process"))?;
        fs::write(file.path(), json).map_err(io_context("writing the exec process"))?;
        let log = file.path().with_extension("log");
        let mut cmd = runtime.exec(&container.id, file.path(), &log, options.detach);
        if options.detach || !options.interactive {
            cmd.stdin(Stdio::null());
        }
        if options.detach {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        // `-t` with no terminal at hand: a pseudo-terminal of ours, whose
        // screen is printed.
        let console = match process.tty && !has_terminal() {
            true => Some(console(&mut cmd)?),
            false => None,
        };
        let spawned = cmd.spawn();
        drop(cmd);
        let copier = console.map(|(master, slave)| {
            drop(slave);
            std::thread::spawn(move || {
                let _ = io::copy(&mut File::from(master), &mut io::stdout());
            })
        });
        let status = spawned
            .and_then(|mut child| runtime::wait_forwarding(&mut child))
            .map_err(|source| runtime::RuntimeError::Spawn {
                runtime: runtime.name().to_string(),
                source,
            })?;
        if let Some(copier) = copier {
            let _ = copier.join();
        }
        let code = runtime::exit_code(status);
        let error = (code != 0).then(|| runtime::logged_error(&log)).flatten();
        let _ = fs::remove_file(&log);
        match error {
            Some(message) => Err(ContainerError::Runtime {
                runtime: runtime.name().to_string(),
                message,
            }),
            None => Ok(code),
        }
    }

    /// `logs`: a detached container's output, as `docker logs` prints the
    /// json-file driver's: each line to the stream it came from, optionally
    /// with its time, the last `tail` lines, and with `follow` on until the
    /// container stops.
    pub fn logs(
        &self,
        container: &Container,
        options: &LogOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let path = self
            .containers
            .dir(&container.id)
            .join(format!("{}-json.log", container.id));
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !options.follow => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.wait_stopped(container, None)?;
                return Ok(());
            }
            Err(e) => return Err(io_context(format!("reading {}", path.display()))(e)),
        };
        let mut reader = BufReader::new(file);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        while reader
            .read_line(&mut line)
            .map_err(io_context(format!("reading {}", path.display())))?
            > 0
        {
            if line.ends_with('\n') {
                lines.push(std::mem::take(&mut line));
            } else {
                break;
            }
        }
        let skip = options.tail.map_or(0, |t| lines.len().saturating_sub(t));
        let writing = || io_context("writing the logs");
        for entry in &lines[skip..] {
            print_log_line(entry, options.timestamps, out, err).map_err(writing())?;
        }
        if !options.follow {
            return Ok(());
        }
        // Follow: keep reading what the monitor appends until it is done.
        loop {
            let stopped = !self.state(container)?.is_running();
            loop {
                let n = reader
                    .read_line(&mut line)
                    .map_err(io_context(format!("reading {}", path.display())))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                print_log_line(&line, options.timestamps, out, err).map_err(writing())?;
                line.clear();
            }
            out.flush().map_err(writing())?;
            if stopped {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The runtime's log and PID file in `bundle`, gone from any earlier run,
/// with runc's temporary `.pid`: a run killed between runc writing it and
/// renaming it into place leaves it, and runc then refuses every later
/// start ("open …/.pid: file exists").
fn fresh_run_files(bundle: &Path) -> (PathBuf, PathBuf) {
    let (log, pid_file) = (bundle.join("runtime.log"), bundle.join("pid"));
    for stale in [&log, &pid_file, &bundle.join(".pid")] {
        let _ = fs::remove_file(stale);
    }
    (log, pid_file)
}

/// `exec` flags.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
}

/// `logs` flags.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
}

/// One json-file line: `{"log":"…\n","stream":"stdout","time":"…"}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct LogLine {
    log: String,
    stream: String,
    time: String,
}

/// Where a watched container's output goes besides its log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// rimg's own stdio (`run`, `start -a`).
    Terminal { interactive: bool },
    /// Only the log (`run -d`, `start`).
    Log,
}

/// Copies a stream into the json-file log, a line per entry as Docker's
/// driver writes it (a long line without a newline is split at 16 KiB),
/// and with `echo` to rimg's own stream of that name as the bytes come.
fn copy_to_log(mut stream: Box<dyn io::Read + Send>, name: &str, sink: &Mutex<File>, echo: bool) {
    const MAX_LINE: usize = 16 << 10;
    let mut echo_to: Option<Box<dyn Write>> = echo.then(|| -> Box<dyn Write> {
        if name == "stderr" {
            Box::new(io::stderr())
        } else {
            Box::new(io::stdout())
        }
    });
    let mut pending = Vec::new();
    let mut buf = vec![0; MAX_LINE];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if let Some(out) = &mut echo_to {
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                echo_to = None;
            }
        }
        pending.extend_from_slice(&buf[..n]);
        let mut lines = Vec::new();
        while let Some(end) = pending.iter().position(|&b| b == b'\n').map(|i| i + 1) {
            lines.push(pending.drain(..end).collect::<Vec<u8>>());
        }
        if pending.len() >= MAX_LINE || (n == 0 && !pending.is_empty()) {
            lines.push(std::mem::take(&mut pending));
        }
        for line in lines {
            let entry = LogLine {
                log: String::from_utf8_lossy(&line).into_owned(),
                stream: name.to_string(),
                time: state::now(),
            };
            let mut json = serde_json::to_vec(&entry).expect("a log line serializes");
            json.push(b'\n');
            if let Ok(mut file) = sink.lock() {
                let _ = file.write_all(&json);
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// A new pseudo-terminal: (master, slave).
fn open_pty() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors it opened into the pointers;
    // the name, termios and window size pointers may be null.
    let ret = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are open and owned by nothing else.
    unsafe {
        Ok((
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        ))
    }
}

/// Whether rimg's stdio has a terminal the runtime can use as its console.
pub fn has_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal() || io::stdout().is_terminal() || io::stderr().is_terminal()
}

/// A pseudo-terminal of ours as the runtime's stdio and controlling
/// terminal: (master, slave); the slave must be dropped once it started.
fn console(cmd: &mut Command) -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let (master, slave) = open_pty().map_err(io_context("opening a pseudo-terminal"))?;
    cmd.stdin(clone_fd(&slave)?)
        .stdout(clone_fd(&slave)?)
        .stderr(clone_fd(&slave)?);
    controlling_terminal(cmd);
    Ok((master, slave))
}

fn clone_fd(fd: &std::os::fd::OwnedFd) -> Result<Stdio> {
    Ok(fd
        .try_clone()
        .map_err(io_context("duplicating the pseudo-terminal"))?
        .into())
}

fn print_log_line(
    entry: &str,
    timestamps: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let Ok(line) = serde_json::from_str::<LogLine>(entry) else {
        return Ok(());
    };
    let target: &mut dyn Write = if line.stream == "stderr" { err } else { out };
    if timestamps {
        write!(target, "{} ", line.time)?;
    }
    target.write_all(line.log.as_bytes())
}

pub(crate) fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// The runtime's stdin (a pseudo-terminal) becomes its controlling
/// terminal in a session of its own: runc opens `/dev/tty` for its console.
fn controlling_terminal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid and ioctl are async-signal-safe and touch only the
    // child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn new_session(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Field, RuntimeConfig};

    fn image() -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: Field::Set(vec!["/entry".into()]),
            cmd: Field::Set(vec!["serve".into()]),
            env: Field::Set(vec!["PATH=/opt/bin".into(), "A=1".into()]),
            working_dir: Field::Set("/srv".into()),
            ..RuntimeConfig::default()
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn flags_apply_to_the_image_config_as_docker_merges_them() {
        let flags = RunFlags {
            cmd: vec!["x".into()],
            env: vec!["A=2".into(), "B=3".into()],
            network: Network::None,
            ..RunFlags::default()
        };
        let spec = container_spec(Some(&image()), &flags, ID).unwrap();
        assert_eq!(spec.process.args, ["/entry", "x"]);
        assert_eq!(
            spec.process.env,
            ["PATH=/opt/bin", "A=2", "HOSTNAME=0123456789ab", "B=3"]
        );
        assert_eq!(spec.process.cwd, "/srv");
        assert_eq!(spec.hostname, "0123456789ab");
        let flags = RunFlags {
            entrypoint: Some("sh".into()),
            ..RunFlags::default()
        };
        let spec = container_spec(Some(&image()), &flags, ID).unwrap();
        assert_eq!(spec.process.args, ["sh"]);
        assert!(spec.process.env[0] == "PATH=/opt/bin");
        let none = container_spec(None, &RunFlags::default(), ID).unwrap();
        let e = check_command(Path::new("/nonexistent"), &none.process).unwrap_err();
        assert_eq!(e.to_string(), "No command specified");
        let bare = container_spec(
            None,
            &RunFlags {
                cmd: vec!["true".into()],
                ..RunFlags::default()
            },
            ID,
        )
        .unwrap();
        assert_eq!(bare.process.env[0], DEFAULT_PATH);
    }

    #[test]
    fn log_lines_round_trip_in_docker_json_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let sink = Mutex::new(File::create(&path).unwrap());
        copy_to_log(Box::new(&b"one\ntwo"[..]), "stderr", &sink, false);
        let text = fs::read_to_string(&path).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for line in text.lines() {
            assert!(
                line.starts_with(r#"{"log":""#) && line.contains(r#""stream":"stderr","time":""#),
                "{line}"
            );
            print_log_line(line, false, &mut out, &mut err).unwrap();
        }
        assert_eq!(err, b"one\ntwo");
        assert!(out.is_empty());
    }
}
