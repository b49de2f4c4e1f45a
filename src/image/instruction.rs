//! `commit -c` and `import -c`: Dockerfile instructions applied to an
//! image's runtime config, as Docker's `BuildFromConfig` applies them.
//!
//! Accepted: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
//! STOPSIGNAL, USER, VOLUME and WORKDIR. The changes are parsed as one
//! Dockerfile by [`crate::dockerfile`] (the same grammar, checks and word
//! expansion as `build`), all of them before any is applied. Shell-form CMD
//! and ENTRYPOINT run through the config's `Shell` (`/bin/sh -c` by
//! default); ENTRYPOINT clears an inherited CMD unless the same changes set
//! one; words are expanded from the config's environment as it stands
//! before each instruction.

use crate::dockerfile::instructions::{self, CommandLine, Healthcheck, Instruction};
use crate::dockerfile::shell::Lexer;
use crate::dockerfile::{parser, ErrorKind};
use crate::oci::{Field, RuntimeConfig};
use crate::pathmatch;
use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InstructionError(String);

fn err<T>(message: impl Into<String>) -> Result<T, InstructionError> {
    Err(InstructionError(message.into()))
}

impl From<ErrorKind> for InstructionError {
    fn from(kind: ErrorKind) -> Self {
        InstructionError(kind.to_string())
    }
}

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Applies `changes` (each one or more Dockerfile lines) to `config`, the
/// image config's runtime config.
pub fn apply_changes(
    config: &mut RuntimeConfig,
    changes: &[String],
) -> Result<(), InstructionError> {
    let dockerfile = match parser::parse("changes", &changes.join("\n")) {
        Ok(dockerfile) => dockerfile,
        // Only blank lines and comments: nothing to change.
        Err(e) if e.kind == ErrorKind::NoInstructions => return Ok(()),
        Err(e) => return Err(e.kind.into()),
    };
    for node in &dockerfile.nodes {
        let name = node.name();
        if !VALID.contains(&name.as_str()) {
            return err(format!("{name} is not a valid change command"));
        }
    }
    let parsed = dockerfile
        .nodes
        .iter()
        .map(instructions::parse_node)
        .collect::<Result<Vec<_>, _>>()?;
    let lexer = Lexer::new(dockerfile.escape);
    let mut cmd_set = false;
    for mut instruction in parsed {
        let env = config.env.get().cloned().unwrap_or_default();
        instruction
            .expand(&lexer, env.as_slice())
            .map_err(|e| InstructionError(e.to_string()))?;
        apply(config, instruction, &mut cmd_set)?;
    }
    Ok(())
}

/// Applies one instruction, already expanded, to `config`, as Docker's
/// builder dispatches it; `cmd_set` says whether a CMD came earlier in the
/// same changes or stage (an ENTRYPOINT then keeps it). Instructions that
/// change no config (RUN, COPY, ADD, ARG, FROM, MAINTAINER) are left to
/// the caller.
pub fn apply(
    config: &mut RuntimeConfig,
    instruction: Instruction,
    cmd_set: &mut bool,
) -> Result<(), InstructionError> {
    match instruction {
        Instruction::Cmd(command) => {
            config.cmd = Field::Set(command_line(config, command));
            *cmd_set = true;
        }
        Instruction::Entrypoint(command) => {
            // `ENTRYPOINT []` removes it, as Docker's nil command line.
            config.entrypoint = if command.args.is_empty() && !command.prepend_shell {
                Field::Null
            } else {
                Field::Set(command_line(config, command))
            };
            if !*cmd_set {
                config.cmd = Field::Null;
            }
        }
        Instruction::Env(pairs) => {
            let list = config.env.get_or_default();
            for (key, value) in pairs {
                let prefix = format!("{key}=");
                let entry = format!("{key}={value}");
                match list
                    .iter_mut()
                    .find(|e| e.starts_with(&prefix) || **e == key)
                {
                    Some(existing) => *existing = entry,
                    None => list.push(entry),
                }
            }
        }
        Instruction::Label(pairs) => {
            let labels = config.labels.get_or_default();
            for (key, value) in pairs {
                labels.insert(key, json!(value));
            }
        }
        Instruction::Expose(specs) => {
            let mut ports = Vec::new();
            for spec in specs {
                ports.extend(instructions::port_specs(&spec)?);
            }
            let exposed = config.exposed_ports.get_or_default();
            for port in ports {
                exposed.insert(port, json!({}));
            }
        }
        Instruction::User(user) => config.user = Field::Set(user),
        Instruction::Workdir(path) => {
            if path.is_empty() {
                return err("cannot normalize nothing");
            }
            let current = config.working_dir.get().map_or("", String::as_str);
            let dir = if path.starts_with('/') {
                path
            } else {
                pathmatch::clean(&format!("/{current}/{path}"))
            };
            config.working_dir = Field::Set(dir);
        }
        Instruction::Volume(volumes) => {
            let map = config.volumes.get_or_default();
            for volume in volumes {
                map.insert(volume, json!({}));
            }
        }
        Instruction::StopSignal(signal) => {
            if !instructions::is_signal(&signal) {
                return err(format!("Invalid signal: {signal}"));
            }
            config.stop_signal = Field::Set(signal);
        }
        Instruction::Onbuild(expression) => {
            config.on_build.get_or_default().push(expression);
        }
        Instruction::Healthcheck(health) => {
            config.healthcheck = Field::Set(healthcheck(health));
        }
        Instruction::Shell(shell) => config.shell = Field::Set(shell),
        Instruction::Run(_)
        | Instruction::Copy(_)
        | Instruction::Arg(_)
        | Instruction::From(_)
        | Instruction::Maintainer(_) => {}
    }
    Ok(())
}

/// CMD/ENTRYPOINT arguments: exec form as written, shell form through the
/// config's shell.
pub fn command_line(config: &RuntimeConfig, command: CommandLine) -> Vec<String> {
    if !command.prepend_shell {
        return command.args;
    }
    let mut shell = config.shell.get().cloned().unwrap_or_default();
    if shell.is_empty() {
        shell = vec!["/bin/sh".into(), "-c".into()];
    }
    shell.extend(command.args);
    shell
}

/// The config's `Healthcheck`, keys in Docker's field order; zero values
/// are left out, as Docker's `omitempty`.
fn healthcheck(health: Healthcheck) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("Test".into(), json!(health.test));
    for (key, value) in [
        ("Interval", health.interval),
        ("Timeout", health.timeout),
        ("StartPeriod", health.start_period),
        ("StartInterval", health.start_interval),
        ("Retries", health.retries),
    ] {
        if value != 0 {
            map.insert(key.into(), json!(value));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(config: Value, changes: &[&str]) -> Result<Value, InstructionError> {
        let mut config: RuntimeConfig = serde_json::from_value(config).unwrap();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut config, &changes)?;
        Ok(serde_json::to_value(&config).unwrap())
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(json!({"Cmd": ["sh"]}), &[r#"CMD ["echo", "hi"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        let c = apply(json!({}), &["cmd echo $HOME > /x"]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME > /x"]));
        // ENTRYPOINT drops the inherited CMD, but not one set alongside it.
        let c = apply(json!({"Cmd": ["sh"]}), &["ENTRYPOINT [\"/app\"]"]).unwrap();
        assert_eq!(c["Cmd"], Value::Null);
        let c = apply(json!({}), &["CMD [\"-v\"]", "ENTRYPOINT /app"]).unwrap();
        assert_eq!(c["Cmd"], json!(["-v"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/app"]));
        let c = apply(json!({"Shell": ["/bin/bash", "-c"]}), &["CMD ls"]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/bash", "-c", "ls"]));
    }

    #[test]
    fn env_and_label_forms_with_expansion() {
        let c = apply(
            json!({"Env": ["PATH=/bin", "A=1"]}),
            &[
                r#"ENV A=2 B="two words" C=${A}x D=$PATH:/usr/bin E=${NOPE:-dflt}"#,
                "ENV LEGACY some value here",
            ],
        )
        .unwrap();
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin",
                "A=2",
                "B=two words",
                "C=1x",
                "D=/bin:/usr/bin",
                "E=dflt",
                "LEGACY=some value here"
            ])
        );
        let c = apply(
            json!({"Labels": {"a": "1"}}),
            &[r#"LABEL b="x y" 'c'=3 esc=a\ b"#],
        )
        .unwrap();
        assert_eq!(
            c["Labels"],
            json!({"a": "1", "b": "x y", "c": "3", "esc": "a b"})
        );
        assert!(apply(json!({}), &["ENV =x"]).is_err());
    }

    #[test]
    fn ports_volumes_user_workdir_stopsignal() {
        let c = apply(
            json!({"WorkingDir": "/srv"}),
            &[
                "EXPOSE 80 53/udp 8000-8001",
                r#"VOLUME ["/data", "/logs"]"#,
                "VOLUME /cache",
                "USER app:app",
                "WORKDIR web/../app",
                "STOPSIGNAL SIGQUIT",
            ],
        )
        .unwrap();
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(
            c["Volumes"],
            json!({"/data": {}, "/logs": {}, "/cache": {}})
        );
        assert_eq!(c["User"], json!("app:app"));
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(c["StopSignal"], json!("SIGQUIT"));
        assert!(apply(json!({}), &["STOPSIGNAL NOPE"]).is_err());
        assert!(apply(json!({}), &["EXPOSE abc"]).is_err());
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let c = apply(
            json!({}),
            &[
                "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/",
                "ONBUILD RUN make",
            ],
        )
        .unwrap();
        assert_eq!(
            c["Healthcheck"],
            json!({"Interval": 30_000_000_000i64, "Retries": 3, "Test": ["CMD-SHELL", "curl -f http://localhost/"]})
        );
        assert_eq!(c["OnBuild"], json!(["RUN make"]));
        let c = apply(json!({}), &["HEALTHCHECK NONE"]).unwrap();
        assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
        assert!(apply(json!({}), &["ONBUILD FROM x"]).is_err());
    }

    #[test]
    fn shares_the_dockerfile_grammar() {
        // Continuations, comments, the escape directive, JSON VOLUME words
        // expanded, ENTRYPOINT [] removing the entrypoint.
        let c = apply(
            json!({"Env": ["D=/data"], "Entrypoint": ["/x"]}),
            &[
                "# escape=`",
                "LABEL a=1 `",
                "  # a comment inside",
                "  b=c:\\dir",
                r#"VOLUME ["$D"]"#,
                "ENTRYPOINT []",
            ],
        )
        .unwrap();
        assert_eq!(c["Labels"], json!({"a": "1", "b": "c:\\dir"}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["Entrypoint"], Value::Null);
        assert_eq!(
            apply(json!({}), &["USER \"unterminated"]).unwrap_err().to_string(),
            "failed to process \"\\\"unterminated\": unexpected end of statement while looking for matching double-quote"
        );
        assert_eq!(
            apply(json!({}), &["HEALTHCHECK --bogus=1 CMD x"])
                .unwrap_err()
                .to_string(),
            "unknown flag: bogus"
        );
        assert_eq!(apply(json!({}), &["# only a comment"]).unwrap(), json!({}));
    }

    #[test]
    fn other_instructions_are_refused_like_docker() {
        assert_eq!(
            apply(json!({}), &["RUN rm -rf /"]).unwrap_err().to_string(),
            "run is not a valid change command"
        );
        assert_eq!(
            apply(json!({}), &["CMD x", "FROM scratch"])
                .unwrap_err()
                .to_string(),
            "from is not a valid change command"
        );
    }
}
