//! RUN: a command in the stage's working tree through the OCI runtime, as
//! buildah runs one: a bundle with the runtime spec `run` uses (Docker's
//! capabilities, namespaces and masked paths), generated `/etc/hosts`,
//! `/etc/hostname` and `/etc/resolv.conf` bind-mounted, no terminal, the
//! output passed through (or dropped for `-q`), then deleted again.

use super::BuildError;
use crate::runtime::{self, Bind, ContainerSpec, Network, ProcessConfig, Runtime};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// What one RUN runs.
pub struct RunStep<'a> {
    /// The container ID shown (`Running in …`) and given to the runtime.
    pub id: &'a str,
    pub process: ProcessConfig,
    pub network: Network,
    /// A heredoc given to the command on its standard input.
    pub stdin: Option<&'a str>,
    /// `-q`: the command's output is not shown.
    pub quiet: bool,
    /// `RUN --mount`s.
    pub binds: Vec<Bind>,
    /// Plain progress: the output's lines go to stderr prefixed with the
    /// step number and the time since it started.
    pub prefix: Option<(usize, std::time::Instant)>,
}

/// Runs `step` in `rootfs`, with its bundle under `dir`; the command's exit
/// code, or the runtime's own error.
pub fn run(
    runtime: &Runtime,
    rootfs: &Path,
    dir: &Path,
    step: RunStep<'_>,
) -> Result<i32, BuildError> {
    let io = |context: String| move |source| BuildError::Io { context, source };
    let spec = ContainerSpec {
        hostname: step.id[..12].to_string(),
        network: step.network,
        process: step.process,
        binds: step.binds,
        read_only: false,
    };
    let bundle = runtime.write_bundle(&spec, rootfs, dir)?;
    let log = dir.join("runtime.log");
    let pid_file = dir.join("pid");
    let mut cmd = runtime.run(step.id, &bundle, &log, &pid_file);
    // A killed rimg takes the runtime with it; the next build's sweep
    // deletes the container (see `sweep_builds`).
    crate::container::run::set_parent_death_signal(&mut cmd);
    cmd.stdin(if step.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    if step.quiet {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    } else if step.prefix.is_some() {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|source| runtime::RuntimeError::Spawn {
        runtime: runtime.name().to_string(),
        source,
    })?;
    if let (Some(text), Some(mut input)) = (step.stdin, child.stdin.take()) {
        // A command that does not read its input closes the pipe early;
        // that is its business, not an error of the build.
        let _ = input.write_all(text.as_bytes());
    }
    let copiers: Vec<_> = match step.prefix {
        Some(prefix) => [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|stream| {
            std::thread::spawn(move || {
                super::report::prefixed_lines(stream, &mut std::io::stderr(), prefix)
            })
        })
        .collect(),
        None => Vec::new(),
    };
    let status = runtime::wait_forwarding(&mut child);
    for copier in copiers {
        let _ = copier.join();
    }
    let _ = runtime.delete(step.id);
    let status = status.map_err(io(format!("waiting for {}", runtime.name())))?;
    let code = runtime::exit_code(status);
    if code != 0 {
        if let Some(message) = runtime::logged_error(&log) {
            return Err(BuildError::Runtime {
                runtime: runtime.name().to_string(),
                message,
            });
        }
    }
    Ok(code)
}
