//! Typed Dockerfile instructions and build stages (BuildKit's
//! `frontend/dockerfile/instructions`): each [`Node`] checked as Docker
//! checks it (arguments, flags, JSON form) and given its meaning; which
//! words the builder expands ([`Instruction::expand`]); stages with names
//! and indexes, global ARGs before the first FROM.

use super::parser::{self, heredoc_word, Heredoc, Node};
use super::shell::{Env, Lexer, ShellError};
use super::{DockerfileError, ErrorKind};

/// An instruction with its place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub instruction: Instruction,
    /// The instruction as written (continuation lines joined), for history
    /// and error messages.
    pub original: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    /// COPY and ADD.
    Copy(Copy),
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDef>),
    Workdir(String),
    User(String),
    /// Port specs as written (`80`, `53/udp`, `8000-8002`), sorted as Docker
    /// sorts them; see [`port_specs`].
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Volume(Vec<String>),
    Healthcheck(Healthcheck),
    StopSignal(String),
    Shell(Vec<String>),
    /// ONBUILD's trigger, as the image config keeps it.
    Onbuild(String),
    Maintainer(String),
}

/// `FROM [--platform=P] IMAGE [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// A command of RUN, CMD or ENTRYPOINT: exec form as written, or one shell
/// string for the image's SHELL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    /// Shell form: the arguments go after the SHELL (`/bin/sh -c`).
    pub prepend_shell: bool,
    /// Heredoc bodies given to the command.
    pub files: Vec<InlineFile>,
}

/// A heredoc's body as a file: RUN's script or a COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    pub name: String,
    /// Leading tabs already removed for `<<-`.
    pub data: String,
    /// The delimiter was unquoted: `$VAR`s in the body are expanded.
    pub expand: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// `--mount` specs as written; [`Run::mounts`] reads them once their
    /// values can be expanded.
    pub mounts: Vec<String>,
    pub network: Network,
    /// `--security=insecure`.
    pub insecure: bool,
}

/// `COPY`/`ADD [--from] [--chown] [--chmod] [--link] SRC… DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /file`).
    pub inline: Vec<InlineFile>,
    pub dest: String,
    /// COPY only: a stage name or index, or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// ADD only: `--checksum` of a URL source, `--keep-git-dir`.
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
}

/// `HEALTHCHECK NONE` (test `["NONE"]`) or `HEALTHCHECK [options] CMD …`;
/// durations in nanoseconds, 0 when not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// A build stage: its FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub from: From,
    pub line: usize,
    pub original: String,
    pub instructions: Vec<Located>,
}

/// A whole Dockerfile: global ARGs (before the first FROM) and stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    pub escape: char,
    pub global_args: Vec<ArgDef>,
    pub stages: Vec<Stage>,
}

impl Stages {
    /// The stage `--target`, `COPY --from` or `FROM` names: by name (case
    /// does not matter), else by index.
    pub fn find(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.from.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                let index: usize = name.parse().ok()?;
                self.stages.get(index)
            })
    }
}

/// Parses a Dockerfile into stages; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Stages, DockerfileError> {
    let dockerfile = parser::parse(file, text)?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &dockerfile.nodes {
        let at = |kind| DockerfileError::new(file, node.start_line, node.column, kind);
        let instruction = parse_node(node).map_err(at)?;
        let located = Located {
            instruction,
            original: node.original.clone(),
            line: node.start_line,
            column: node.column,
        };
        match (located.instruction, stages.last_mut()) {
            (Instruction::Arg(args), None) => global_args.extend(args),
            (Instruction::From(from), _) => {
                if let Some(name) = &from.name {
                    if stages.iter().any(|s| s.from.name.as_ref() == Some(name)) {
                        return Err(at(ErrorKind::DuplicateStage(name.clone())));
                    }
                }
                stages.push(Stage {
                    index: stages.len(),
                    from,
                    line: node.start_line,
                    original: node.original.trim().to_string(),
                    instructions: Vec::new(),
                });
            }
            (_, None) => return Err(at(ErrorKind::NoStage)),
            (instruction, Some(stage)) => stage.instructions.push(Located {
                instruction,
                ..located
            }),
        }
    }
    Ok(Stages {
        escape: dockerfile.escape,
        global_args,
        stages,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    String,
    /// May be given more than once.
    Strings,
}

/// BuildKit's `BFlags.Parse`: each defined flag's values in order.
fn parse_flags(
    given: &[String],
    defined: &[(&str, FlagType)],
) -> Result<Vec<Vec<String>>, ErrorKind> {
    let mut values = vec![Vec::new(); defined.len()];
    for flag in given {
        if flag == "--" {
            break;
        }
        // The parser only gives words that start with `--`.
        let body = flag.strip_prefix("--").unwrap_or(flag);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(i) = defined.iter().position(|(n, _)| *n == name) else {
            return Err(ErrorKind::UnknownFlag(name.to_string()));
        };
        let kind = defined[i].1;
        if kind != FlagType::Strings && !values[i].is_empty() {
            return Err(ErrorKind::DuplicateFlag(name.to_string()));
        }
        let value = match (kind, value) {
            (FlagType::Bool, None) => "true".to_string(),
            (FlagType::Bool, Some("")) => {
                return Err(ErrorKind::MissingFlagValue(name.to_string()))
            }
            (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "false" => v.to_ascii_lowercase(),
                _ => {
                    return Err(ErrorKind::BoolFlag {
                        flag: name.to_string(),
                        value: v.to_string(),
                    })
                }
            },
            (_, None) => return Err(ErrorKind::MissingFlagValue(name.to_string())),
            (_, Some(v)) => v.to_string(),
        };
        values[i].push(value);
    }
    Ok(values)
}

fn last(values: &[String]) -> Option<String> {
    values.last().cloned()
}

fn is_true(values: &[String]) -> bool {
    values.last().is_some_and(|v| v == "true")
}

fn no_flags(node: &Node) -> Result<(), ErrorKind> {
    parse_flags(&node.flags, &[]).map(drop)
}

/// One instruction's meaning (BuildKit's `ParseInstruction`).
pub fn parse_node(node: &Node) -> Result<Instruction, ErrorKind> {
    let args = &node.args;
    let one = |what| match args.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ErrorKind::ExactlyOneArgument(what)),
    };
    Ok(match node.name().as_str() {
        "from" => {
            let name = match args.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let lower = name.to_ascii_lowercase();
                    let mut chars = lower.chars();
                    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                        && chars.all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)
                        });
                    if !valid {
                        return Err(ErrorKind::StageName(name.clone()));
                    }
                    Some(lower)
                }
                _ => return Err(ErrorKind::FromArguments),
            };
            let flags = parse_flags(&node.flags, &[("platform", FlagType::String)])?;
            Instruction::From(From {
                image: args[0].clone(),
                name,
                platform: last(&flags[0]),
            })
        }
        "run" => {
            let flags = parse_flags(
                &node.flags,
                &[
                    ("mount", FlagType::Strings),
                    ("network", FlagType::String),
                    ("security", FlagType::String),
                ],
            )?;
            let network = match last(&flags[1]).as_deref() {
                None | Some("default") => Network::Default,
                Some("none") => Network::None,
                Some("host") => Network::Host,
                Some(other) => {
                    return Err(ErrorKind::Invalid(format!(
                        "invalid network mode {other:?}"
                    )))
                }
            };
            let insecure = match last(&flags[2]).as_deref() {
                None | Some("sandbox") => false,
                Some("insecure") => true,
                Some(other) => {
                    return Err(ErrorKind::Invalid(format!(
                        "security {other:?} is not valid"
                    )))
                }
            };
            let run = Run {
                command: command_line(node),
                mounts: flags[0].clone(),
                network,
                insecure,
            };
            // As BuildKit, mount specs are checked now only as far as they
            // can be before their values are expanded.
            for spec in &run.mounts {
                Mount::parse(spec, None)?;
            }
            Instruction::Run(run)
        }
        "cmd" => {
            no_flags(node)?;
            Instruction::Cmd(command_line(node))
        }
        "entrypoint" => {
            no_flags(node)?;
            Instruction::Entrypoint(command_line(node))
        }
        "copy" | "add" => {
            let add = node.name() == "add";
            let what = if add { "ADD" } else { "COPY" };
            if args.len() < 2 {
                return Err(ErrorKind::NoDestination(what));
            }
            let mut defined = vec![
                ("chown", FlagType::String),
                ("chmod", FlagType::String),
                ("link", FlagType::Bool),
            ];
            if add {
                defined.extend([
                    ("checksum", FlagType::String),
                    ("keep-git-dir", FlagType::Bool),
                ]);
            } else {
                defined.push(("from", FlagType::String));
            }
            let flags = parse_flags(&node.flags, &defined)?;
            sources_and_dest(node, what, add, &flags)?
        }
        "env" | "label" => {
            let what = if node.name() == "env" { "ENV" } else { "LABEL" };
            if what == "ENV" && args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument(what));
            }
            no_flags(node)?;
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument(what));
            }
            let mut pairs = Vec::new();
            for pair in args.chunks(2) {
                let [key, value] = pair else {
                    return Err(ErrorKind::Invalid(format!(
                        "Bad input to {what}, too many arguments"
                    )));
                };
                if key.is_empty() {
                    return Err(ErrorKind::BlankNames(what));
                }
                pairs.push((key.clone(), value.clone()));
            }
            if what == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "arg" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("ARG"));
            }
            let mut defs = Vec::new();
            for arg in args {
                defs.push(match arg.split_once('=') {
                    Some(("", _)) => return Err(ErrorKind::BlankNames("ARG")),
                    Some((name, value)) => ArgDef {
                        name: name.to_string(),
                        default: Some(value.to_string()),
                    },
                    None => ArgDef {
                        name: arg.clone(),
                        default: None,
                    },
                });
            }
            Instruction::Arg(defs)
        }
        "workdir" => {
            let path = one("WORKDIR")?;
            no_flags(node)?;
            Instruction::Workdir(path)
        }
        "user" => {
            let user = one("USER")?;
            no_flags(node)?;
            Instruction::User(user)
        }
        "maintainer" => {
            let maintainer = one("MAINTAINER")?;
            no_flags(node)?;
            Instruction::Maintainer(maintainer)
        }
        // As BuildKit, STOPSIGNAL does not look at flags.
        "stopsignal" => Instruction::StopSignal(one("STOPSIGNAL")?),
        "expose" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "volume" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("VOLUME"));
            }
            no_flags(node)?;
            let mut volumes = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(ErrorKind::Invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume(volumes)
        }
        "shell" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("SHELL"));
            }
            if !node.json {
                return Err(ErrorKind::NotJson("SHELL"));
            }
            Instruction::Shell(args.clone())
        }
        "healthcheck" => Instruction::Healthcheck(healthcheck(node)?),
        "onbuild" => {
            let Some(trigger) = args.first() else {
                return Err(ErrorKind::AtLeastOneArgument("ONBUILD"));
            };
            no_flags(node)?;
            let trigger = trigger.trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err(ErrorKind::OnbuildChain),
                "MAINTAINER" | "FROM" => return Err(ErrorKind::OnbuildTrigger(trigger)),
                _ => {}
            }
            // The expression is the line less its `ONBUILD` (BuildKit's
            // `(?i)^\s*ONBUILD\s*`), heredocs appended with their delimiters.
            let original = node.original.trim_start();
            let mut expression = original[node.keyword.len().min(original.len())..]
                .trim_start()
                .to_string();
            for heredoc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&heredoc.content);
                expression.push_str(&heredoc.name);
            }
            Instruction::Onbuild(expression)
        }
        _ => return Err(ErrorKind::UnknownInstruction(node.keyword.clone())),
    })
}

fn inline_file(heredoc: &Heredoc) -> InlineFile {
    InlineFile {
        name: heredoc.name.clone(),
        data: heredoc.chomped(),
        expand: heredoc.expand,
    }
}

/// BuildKit's `parseShellDependentCommand`: a shell form is one string.
fn command_line(node: &Node) -> CommandLine {
    let args = if node.json || node.args.is_empty() {
        node.args.clone()
    } else {
        vec![node.args.join(" ")]
    };
    CommandLine {
        args,
        prepend_shell: !node.json,
        files: node.heredocs.iter().map(inline_file).collect(),
    }
}

/// COPY/ADD sources (heredoc sources matched to their bodies) and dest.
fn sources_and_dest(
    node: &Node,
    what: &'static str,
    add: bool,
    flags: &[Vec<String>],
) -> Result<Instruction, ErrorKind> {
    let (dest, sources) = node
        .args
        .split_last()
        .ok_or(ErrorKind::NoDestination(what))?;
    // As BuildKit's `MustParseHeredoc`, a word that fails to lex as a
    // heredoc is an ordinary path.
    let heredoc = |word: &str| heredoc_word(word).ok().flatten();
    if heredoc(dest).is_some() {
        return Err(ErrorKind::Heredoc {
            command: what,
            what: "a destination",
        });
    }
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    for source in sources {
        match heredoc(source) {
            Some(word) => {
                let body = node.heredocs.iter().find(|h| h.name == word.name);
                inline.push(InlineFile {
                    name: word.name.clone(),
                    data: body.map(Heredoc::chomped).unwrap_or_default(),
                    expand: word.expand,
                });
            }
            None => paths.push(source.clone()),
        }
    }
    Ok(Instruction::Copy(Copy {
        add,
        sources: paths,
        inline,
        dest: dest.clone(),
        chown: last(&flags[0]),
        chmod: last(&flags[1]),
        link: is_true(&flags[2]),
        from: (!add).then(|| last(&flags[3])).flatten(),
        checksum: add.then(|| last(&flags[3])).flatten(),
        keep_git_dir: add && is_true(&flags[4]),
    }))
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D …] CMD …`.
fn healthcheck(node: &Node) -> Result<Healthcheck, ErrorKind> {
    let Some((kind, command)) = node.args.split_first() else {
        return Err(ErrorKind::AtLeastOneArgument("HEALTHCHECK"));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !command.is_empty() {
            return Err(ErrorKind::Invalid(
                "HEALTHCHECK NONE takes no arguments".into(),
            ));
        }
        return Ok(Healthcheck {
            test: vec![kind],
            ..Healthcheck::default()
        });
    }
    let flags = parse_flags(
        &node.flags,
        &[
            ("interval", FlagType::String),
            ("timeout", FlagType::String),
            ("start-period", FlagType::String),
            ("start-interval", FlagType::String),
            ("retries", FlagType::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(ErrorKind::Invalid(format!(
            "Unknown type {kind:?} in HEALTHCHECK (try CMD)"
        )));
    }
    if command.is_empty() {
        return Err(ErrorKind::Invalid(
            "Missing command after HEALTHCHECK CMD".into(),
        ));
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
    if node.json {
        test.extend(command.iter().cloned());
    } else {
        test.push(command.join(" "));
    }
    let interval = |i: usize, name: &str| -> Result<i64, ErrorKind> {
        let Some(value) = flags[i].last().filter(|v| !v.is_empty()) else {
            return Ok(0);
        };
        let nanos = go_duration(value)
            .ok_or_else(|| ErrorKind::Invalid(format!("time: invalid duration {value:?}")))?;
        if nanos != 0 && nanos < 1_000_000 {
            return Err(ErrorKind::Invalid(format!(
                "Interval {name:?} cannot be less than 1ms"
            )));
        }
        Ok(nanos)
    };
    let retries = match flags[4].last().filter(|v| !v.is_empty()) {
        None => 0,
        Some(value) => {
            let n = value.parse::<i32>().map_err(|_| {
                ErrorKind::Invalid(format!(
                    "strconv.ParseInt: parsing {value:?}: invalid syntax"
                ))
            })?;
            if n < 0 {
                return Err(ErrorKind::Invalid(format!(
                    "--retries cannot be negative ({n})"
                )));
            }
            i64::from(n)
        }
    };
    Ok(Healthcheck {
        test,
        interval: interval(0, "interval")?,
        timeout: interval(1, "timeout")?,
        start_period: interval(2, "start-period")?,
        start_interval: interval(3, "start-interval")?,
        retries,
    })
}

/// A Go duration (`30s`, `1m30s`, `1.5h`, `500ms`, `-1s`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if negative {
        -(total as i64)
    } else {
        total as i64
    })
}

impl Instruction {
    /// Expands the words Docker's builder expands, from `env` (the stage's
    /// ENV and ARGs; for FROM, the global ARGs only): ENV, ARG and LABEL
    /// names and values, COPY/ADD sources, destination and flags, WORKDIR,
    /// USER, EXPOSE (split into words), VOLUME, STOPSIGNAL, FROM's image
    /// and platform. RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and
    /// MAINTAINER are left as written (the shell expands RUN's). COPY/ADD
    /// heredoc bodies with an unquoted delimiter are expanded, quotes kept.
    pub fn expand(&mut self, lexer: &Lexer, env: &(impl Env + ?Sized)) -> Result<(), ShellError> {
        let word = |w: &mut String| -> Result<(), ShellError> {
            *w = lexer.process_word(w, env)?;
            Ok(())
        };
        let optional = |w: &mut Option<String>| w.as_mut().map_or(Ok(()), word);
        match self {
            Instruction::From(from) => {
                word(&mut from.image)?;
                optional(&mut from.platform)?;
            }
            Instruction::Copy(copy) => {
                let heredoc = lexer.for_heredoc();
                for file in copy.inline.iter_mut().filter(|f| f.expand) {
                    file.data = heredoc.process_word(&file.data, env)?;
                }
                copy.sources.iter_mut().try_for_each(word)?;
                word(&mut copy.dest)?;
                optional(&mut copy.from)?;
                optional(&mut copy.chown)?;
                optional(&mut copy.chmod)?;
                optional(&mut copy.checksum)?;
            }
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                for (key, value) in pairs {
                    word(key)?;
                    word(value)?;
                }
            }
            Instruction::Arg(defs) => {
                for def in defs {
                    word(&mut def.name)?;
                    optional(&mut def.default)?;
                }
            }
            Instruction::Workdir(w) | Instruction::User(w) | Instruction::StopSignal(w) => word(w)?,
            Instruction::Volume(list) => list.iter_mut().try_for_each(word)?,
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for port in ports.iter() {
                    out.extend(lexer.process_words(port, env)?);
                }
                *ports = out;
            }
            Instruction::Run(_)
            | Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Shell(_)
            | Instruction::Healthcheck(_)
            | Instruction::Onbuild(_)
            | Instruction::Maintainer(_) => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// A `RUN --mount` (BuildKit's `ParseMount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: bool,
    /// Cache or secret id.
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    pub required: bool,
    /// tmpfs `size` in bytes.
    pub size: Option<i64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Run {
    /// The mounts, their values expanded.
    pub fn mounts(
        &self,
        lexer: &Lexer,
        env: &(impl Env + ?Sized),
    ) -> Result<Vec<Mount>, ErrorKind> {
        let expand = |v: &str| lexer.process_word(v, env);
        self.mounts
            .iter()
            .map(|spec| Mount::parse(spec, Some(&expand)))
            .collect()
    }
}

type Expander<'a> = &'a dyn Fn(&str) -> Result<String, ShellError>;

impl Mount {
    /// Parses a spec; without `expand` (at parse time, as BuildKit) values
    /// are not looked at, except that `from` may not use variables.
    fn parse(spec: &str, expand: Option<Expander>) -> Result<Mount, ErrorKind> {
        let invalid = |m: String| Err(ErrorKind::Invalid(m));
        let mut m = Mount {
            kind: MountType::Bind,
            from: None,
            source: None,
            target: None,
            read_only: false,
            id: None,
            sharing: None,
            required: false,
            size: None,
            mode: None,
            uid: None,
            gid: None,
        };
        let mut ro_auto = true;
        for field in csv_fields(spec)? {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), v),
                None => {
                    let Some(_) = expand else { continue };
                    match field.to_ascii_lowercase().as_str() {
                        "readonly" | "ro" => (m.read_only, ro_auto) = (true, false),
                        "readwrite" | "rw" => (m.read_only, ro_auto) = (false, false),
                        "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                            m.required = true
                        }
                        "required" => {
                            return invalid(format!(
                                "unexpected key 'required' for mount type '{}'",
                                m.kind.name()
                            ))
                        }
                        _ => {
                            return invalid(format!(
                                "invalid field '{field}' must be a key=value pair"
                            ))
                        }
                    }
                    continue;
                }
            };
            let value = match expand {
                Some(expand) => expand(value)?,
                None => {
                    let variable = value
                        .char_indices()
                        .any(|(i, c)| c == '$' && i + 1 < value.len());
                    if key == "from" && variable {
                        return invalid(
                            "'from' doesn't support variable expansion, define alias stage instead"
                                .into(),
                        );
                    }
                    continue;
                }
            };
            let bad_value = || ErrorKind::Invalid(format!("invalid value for {key}: {value}"));
            let unexpected = |kind: MountType| {
                Err(ErrorKind::Invalid(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    kind.name()
                )))
            };
            let number = |radix, what: &str| {
                u32::from_str_radix(&value, radix)
                    .map_err(|_| ErrorKind::Invalid(format!("invalid value {value} for {what}")))
            };
            match key.as_str() {
                "type" => {
                    m.kind = match value.to_ascii_lowercase().as_str() {
                        "bind" => MountType::Bind,
                        "cache" => MountType::Cache,
                        "tmpfs" => MountType::Tmpfs,
                        "secret" => MountType::Secret,
                        "ssh" => MountType::Ssh,
                        _ => return invalid(format!("unsupported mount type {value:?}")),
                    }
                }
                "from" => m.from = Some(value),
                "source" | "src" => m.source = Some(value),
                "target" | "dst" | "destination" => m.target = Some(value),
                "readonly" | "ro" => {
                    m.read_only = go_bool(&value).ok_or_else(bad_value)?;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = !go_bool(&value).ok_or_else(bad_value)?;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = go_bool(&value).ok_or_else(bad_value)?
                }
                "required" => return unexpected(m.kind),
                "size" if m.kind == MountType::Tmpfs => {
                    m.size = Some(ram_in_bytes(&value).ok_or_else(bad_value)?)
                }
                "size" => return unexpected(m.kind),
                "id" => m.id = Some(value),
                "sharing" => {
                    m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => return invalid(format!("unsupported sharing value {value:?}")),
                    })
                }
                "mode" => m.mode = Some(number(8, "mode")?),
                "uid" => m.uid = Some(number(10, "uid")?),
                "gid" => m.gid = Some(number(10, "gid")?),
                _ => return invalid(format!("unexpected key '{key}' in '{field}'")),
            }
        }
        m.validate(ro_auto)?;
        Ok(m)
    }

    fn validate(&mut self, ro_auto: bool) -> Result<(), ErrorKind> {
        let kind = self.kind.name();
        let invalid = |m: String| Err(ErrorKind::Invalid(m));
        if !matches!(
            self.kind,
            MountType::Secret | MountType::Ssh | MountType::Cache
        ) {
            for (what, set) in [
                ("mode", self.mode.is_some()),
                ("uid", self.uid.is_some()),
                ("gid", self.gid.is_some()),
            ] {
                if set {
                    return invalid(format!("{what} not allowed for {kind:?} type mounts"));
                }
            }
        }
        if ro_auto {
            self.read_only = !matches!(self.kind, MountType::Cache | MountType::Tmpfs);
        }
        if self.kind == MountType::Secret {
            if self.from.is_some() {
                return invalid("secret mount should not have a from".into());
            }
            if self.sharing.is_some() {
                return invalid("secret mount should not define sharing".into());
            }
            if self.source.is_none() && self.target.is_none() && self.id.is_none() {
                return invalid("invalid secret mount. one of source, target required".into());
            }
            if self.source.is_some() && self.id.is_some() {
                return invalid("both source and id can't be set".into());
            }
        }
        if self.sharing.is_some() && self.kind != MountType::Cache {
            return invalid(format!("invalid cache sharing set for {kind} mount"));
        }
        Ok(())
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// go-units' `RAMInBytes`: `64m`, `1.5GiB`, `1024` (binary multiples).
fn ram_in_bytes(s: &str) -> Option<i64> {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: f64 = s[..number_end].parse().ok()?;
    let unit = s[number_end..].trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    Some((number * 1024f64.powi(power)) as i64)
}

/// Comma-separated fields with CSV quoting (`"a,b"`, `""` for a quote).
fn csv_fields(spec: &str) -> Result<Vec<String>, ErrorKind> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(ErrorKind::Invalid(format!(
            "failed to parse csv mounts: unterminated quote in {spec:?}"
        )));
    }
    fields.push(field);
    Ok(fields)
}

/// `EXPOSE` specs as Docker's `nat.ParsePortSpecs` reads them: `80`,
/// `80/udp`, `8000-8002/tcp`, each as `port/proto`.
pub fn port_specs(spec: &str) -> Result<Vec<String>, ErrorKind> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let invalid = || ErrorKind::Invalid(format!("invalid containerPort: {ports}"));
    let port = |s: &str| s.parse::<u16>().map_err(|_| invalid());
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if end < start {
        return Err(ErrorKind::Invalid(format!(
            "invalid range specified for container port: {ports}"
        )));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN",
    "RTMAX",
];

/// Docker's `signal.ParseSignal` accepts it: a number, or a name with or
/// without `SIG`, including `RTMIN+n` / `RTMAX-n`.
pub fn is_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) {
        return true;
    }
    let offset = |rest: &str| rest.parse::<u32>().is_ok_and(|n| (1..=15).contains(&n));
    name.strip_prefix("RTMIN+").is_some_and(offset)
        || name.strip_prefix("RTMAX-").is_some_and(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(text: &str) -> Stages {
        parse("Dockerfile", text).unwrap()
    }

    fn error(text: &str) -> String {
        parse("Dockerfile", text).unwrap_err().to_string()
    }

    fn only(text: &str) -> Instruction {
        let s = stages(&format!("FROM x\n{text}\n"));
        s.stages[0].instructions[0].instruction.clone()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stages_names_indexes_and_global_args() {
        let s = stages("ARG BASE=alpine V\nFROM --platform=linux/arm64 $BASE AS Builder\nRUN make\nFROM scratch\nCOPY --from=builder /a /b\n");
        assert_eq!(
            s.global_args,
            [
                ArgDef {
                    name: "BASE".into(),
                    default: Some("alpine".into())
                },
                ArgDef {
                    name: "V".into(),
                    default: None
                }
            ]
        );
        assert_eq!(s.stages.len(), 2);
        let first = &s.stages[0].from;
        assert_eq!(
            (first.name.as_deref(), first.platform.as_deref()),
            (Some("builder"), Some("linux/arm64"))
        );
        assert_eq!(s.find("BUILDER").map(|st| st.index), Some(0));
        assert_eq!(
            s.find("1").map(|st| st.from.image.as_str()),
            Some("scratch")
        );
        assert!(s.find("2").is_none());
        let Instruction::Copy(copy) = &s.stages[1].instructions[0].instruction else {
            panic!()
        };
        assert_eq!(
            (
                copy.from.as_deref(),
                copy.sources.clone(),
                copy.dest.as_str()
            ),
            (Some("builder"), strings(&["/a"]), "/b")
        );
        assert_eq!(s.stages[1].instructions[0].line, 5);
    }

    #[test]
    fn errors_name_file_line_and_docker_wording() {
        #[rustfmt::skip]
        let cases = [
            ("FROM x\n\nCOPPY a b\n", "Dockerfile:3: unknown instruction: COPPY"),
            ("RUN x\n", "Dockerfile:1: no build stage in current context"),
            ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
            ("FROM\n", "Dockerfile:1: FROM requires either one or three arguments"),
            ("FROM a AS 1x\n", "Dockerfile:1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
            ("FROM a AS b\nFROM c AS B\n", "Dockerfile:2: duplicate stage name \"b\""),
            ("FROM a\nCOPY x\n", "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
            ("FROM a\nCOPY --chwon=1 x y\n", "Dockerfile:2: unknown flag: chwon"),
            ("FROM a\nADD --from=b x y\n", "Dockerfile:2: unknown flag: from"),
            ("FROM a\nCOPY --from x y\n", "Dockerfile:2: missing a value on flag: from"),
            ("FROM a\nCOPY --from=a --from=b x y\n", "Dockerfile:2: duplicate flag specified: from"),
            ("FROM a\nCOPY --link=maybe x y\n", "Dockerfile:2: expecting boolean value for flag link, not: maybe"),
            ("FROM a\nCOPY x <<EOF\nEOF\n", "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
            ("FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
            ("FROM a\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"),
            ("FROM a\nARG =x\n", "Dockerfile:2: ARG names can not be blank"),
            ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
            ("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"),
            ("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"),
            ("FROM a\nVOLUME []\n", "Dockerfile:2: VOLUME requires at least one argument"),
            ("FROM a\nVOLUME [\" \"]\n", "Dockerfile:2: VOLUME specified can not be an empty string"),
            ("FROM a\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
            ("FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"),
            ("FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
            ("FROM a\nONBUILD from x\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
            ("FROM a\nONBUILD MAINTAINER me\n", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
            ("FROM a\nHEALTHCHECK --interval=1x CMD a\n", "Dockerfile:2: time: invalid duration \"1x\""),
            ("FROM a\nHEALTHCHECK --timeout=1us CMD a\n", "Dockerfile:2: Interval \"timeout\" cannot be less than 1ms"),
            ("FROM a\nHEALTHCHECK --retries=-1 CMD a\n", "Dockerfile:2: --retries cannot be negative (-1)"),
            ("FROM a\nHEALTHCHECK FOO a\n", "Dockerfile:2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
            ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
            ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
            ("FROM a\nRUN --network=bridge x\n", "Dockerfile:2: invalid network mode \"bridge\""),
            ("FROM a\nRUN --mount=type=cache,from=$X x\n", "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead"),
            ("FROM a\nCMD --help\n", "Dockerfile:2: unknown flag: help"),
        ];
        for (text, want) in cases {
            assert_eq!(error(text), want, "{text}");
        }
        let e = parse("sub/Dockerfile.dev", "FROM a\n  RUN x\n  bogus y\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3));
        assert_eq!(
            e.to_string(),
            "sub/Dockerfile.dev:3: unknown instruction: bogus"
        );
    }

    #[test]
    fn run_cmd_entrypoint_forms() {
        let Instruction::Run(run) = only("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok --network=none pip install x") else { panic!() };
        assert_eq!(
            run.command,
            CommandLine {
                args: strings(&["pip install x"]),
                prepend_shell: true,
                files: vec![]
            }
        );
        assert_eq!(run.network, Network::None);
        let env: &[(String, String)] = &[("D".into(), "/d".into())];
        let mounts = run.mounts(&Lexer::new('\\'), env).unwrap();
        assert_eq!(
            (
                mounts[0].kind,
                mounts[0].target.as_deref(),
                mounts[0].read_only
            ),
            (MountType::Cache, Some("/root/.cache"), false)
        );
        assert_eq!(
            (mounts[1].kind, mounts[1].id.as_deref(), mounts[1].read_only),
            (MountType::Secret, Some("tok"), true)
        );
        let Instruction::Run(run) = only("RUN --mount=type=bind,from=b,source=/s,target=$D,rw --mount=type=tmpfs,target=/t,size=64m [\"a\", \"b\"]") else { panic!() };
        assert_eq!(run.command.args, strings(&["a", "b"]));
        assert!(!run.command.prepend_shell);
        let mounts = run.mounts(&Lexer::new('\\'), env).unwrap();
        assert_eq!(
            (
                mounts[0].target.as_deref(),
                mounts[0].read_only,
                mounts[0].from.as_deref()
            ),
            (Some("/d"), false, Some("b"))
        );
        assert_eq!(mounts[1].size, Some(64 << 20));
        let bad = |spec: &str| {
            let Instruction::Run(run) = only(&format!("RUN --mount={spec} x")) else {
                panic!()
            };
            run.mounts(&Lexer::new('\\'), env).unwrap_err().to_string()
        };
        assert_eq!(bad("type=nfs"), "unsupported mount type \"nfs\"");
        assert_eq!(
            bad("type=bind,mode=0700"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            bad("type=bind,bogus=1"),
            "unexpected key 'bogus' in 'bogus=1'"
        );
        assert_eq!(
            bad("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            bad("target"),
            "invalid field 'target' must be a key=value pair"
        );
        assert_eq!(
            only("CMD [\"a\"]"),
            Instruction::Cmd(CommandLine {
                args: strings(&["a"]),
                prepend_shell: false,
                files: vec![]
            })
        );
        assert_eq!(
            only("ENTRYPOINT exec app"),
            Instruction::Entrypoint(CommandLine {
                args: strings(&["exec app"]),
                prepend_shell: true,
                files: vec![]
            })
        );
        let Instruction::Run(run) = only("RUN <<-EOF bash\n\techo hi\n\tEOF") else {
            panic!()
        };
        assert_eq!(
            run.command.files,
            [InlineFile {
                name: "EOF".into(),
                data: "echo hi\n".into(),
                expand: true
            }]
        );
    }

    #[test]
    fn copy_and_add() {
        let Instruction::Copy(c) = only("COPY --chown=app:app --chmod=644 --link a* b/ /dest/")
        else {
            panic!()
        };
        assert_eq!(
            (
                c.sources.clone(),
                c.dest.as_str(),
                c.chown.as_deref(),
                c.chmod.as_deref(),
                c.link,
                c.add
            ),
            (
                strings(&["a*", "b/"]),
                "/dest/",
                Some("app:app"),
                Some("644"),
                true,
                false
            )
        );
        let Instruction::Copy(c) = only("COPY [\"a b\", \"/c d/\"]") else {
            panic!()
        };
        assert_eq!(
            (c.sources.clone(), c.dest.as_str()),
            (strings(&["a b"]), "/c d/")
        );
        let Instruction::Copy(c) =
            only("ADD --checksum=sha256:abc --keep-git-dir https://x/y.tar /y")
        else {
            panic!()
        };
        assert_eq!(
            (c.add, c.checksum.as_deref(), c.keep_git_dir, c.from),
            (true, Some("sha256:abc"), true, None)
        );
        let Instruction::Copy(c) = only("COPY <<one <<'two' /dest/\n1 $X\none\n2 $X\ntwo") else {
            panic!()
        };
        assert_eq!(
            c.inline,
            [
                InlineFile {
                    name: "one".into(),
                    data: "1 $X\n".into(),
                    expand: true
                },
                InlineFile {
                    name: "two".into(),
                    data: "2 $X\n".into(),
                    expand: false
                },
            ]
        );
        assert!(c.sources.is_empty());
        let Instruction::Copy(c) = only("COPY <<'a /x") else {
            panic!()
        };
        assert_eq!(c.sources, strings(&["<<'a"]));
    }

    #[test]
    fn env_arg_label_and_others() {
        assert_eq!(
            only("ENV A=1 B=\"2 3\""),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"2 3\"".into())
            ])
        );
        assert_eq!(
            only("env A 1 2"),
            Instruction::Env(vec![("A".into(), "1 2".into())])
        );
        assert_eq!(
            only("ARG a b=\"\" c=3"),
            Instruction::Arg(vec![
                ArgDef {
                    name: "a".into(),
                    default: None
                },
                ArgDef {
                    name: "b".into(),
                    default: Some("\"\"".into())
                },
                ArgDef {
                    name: "c".into(),
                    default: Some("3".into())
                },
            ])
        );
        assert_eq!(
            only("EXPOSE 8080 80/udp"),
            Instruction::Expose(strings(&["80/udp", "8080"]))
        );
        assert_eq!(
            only("VOLUME /a /b"),
            Instruction::Volume(strings(&["/a", "/b"]))
        );
        assert_eq!(
            only("STOPSIGNAL SIGKILL"),
            Instruction::StopSignal("SIGKILL".into())
        );
        assert_eq!(
            only("SHELL [\"bash\", \"-c\"]"),
            Instruction::Shell(strings(&["bash", "-c"]))
        );
        assert_eq!(
            only("MAINTAINER Me <me@x>"),
            Instruction::Maintainer("Me <me@x>".into())
        );
        assert_eq!(only("WORKDIR /a b"), Instruction::Workdir("/a b".into()));
        assert_eq!(
            only("  onbuild  RUN make $X"),
            Instruction::Onbuild("RUN make $X".into())
        );
        assert_eq!(
            only("ONBUILD RUN <<E\nx\nE"),
            Instruction::Onbuild("RUN <<E\nx\nE".into())
        );
        assert_eq!(
            only("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=1s --retries=3 CMD curl -f http://x/"),
            Instruction::Healthcheck(Healthcheck {
                test: strings(&["CMD-SHELL", "curl -f http://x/"]),
                interval: 30_000_000_000,
                timeout: 90_000_000_000,
                start_period: 5_000_000_000,
                start_interval: 1_000_000_000,
                retries: 3,
            })
        );
        assert_eq!(
            only("HEALTHCHECK none"),
            Instruction::Healthcheck(Healthcheck {
                test: strings(&["NONE"]),
                ..Healthcheck::default()
            })
        );
        assert_eq!(
            only("HEALTHCHECK CMD [\"a\", \"b\"]"),
            Instruction::Healthcheck(Healthcheck {
                test: strings(&["CMD", "a", "b"]),
                ..Healthcheck::default()
            })
        );
    }

    #[test]
    fn expansion_follows_docker() {
        let env: Vec<(String, String)> = [
            ("A", "1"),
            ("P", "80 443/udp"),
            ("D", "/data"),
            ("U", "app"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let lexer = Lexer::new('\\');
        let expanded = |text: &str| {
            let mut i = only(text);
            i.expand(&lexer, env.as_slice()).unwrap();
            i
        };
        // The reference's ENV example: quotes removed, variables expanded.
        assert_eq!(
            expanded("ENV x=\"$A\" y='$A' z=${A:+set} w=\\$A"),
            Instruction::Env(vec![
                ("x".into(), "1".into()),
                ("y".into(), "$A".into()),
                ("z".into(), "set".into()),
                ("w".into(), "$A".into())
            ])
        );
        assert_eq!(
            expanded("EXPOSE $P"),
            Instruction::Expose(strings(&["80", "443/udp"]))
        );
        assert_eq!(
            expanded("WORKDIR ${D}/x"),
            Instruction::Workdir("/data/x".into())
        );
        assert_eq!(expanded("USER ${U:-root}"), Instruction::User("app".into()));
        assert_eq!(
            expanded("VOLUME [\"$D\"]"),
            Instruction::Volume(strings(&["/data"]))
        );
        let Instruction::Copy(c) = expanded("COPY --chown=$U:$U --from=${A} $D/a 'b' $D/") else {
            panic!()
        };
        assert_eq!(
            (
                c.sources.clone(),
                c.dest.as_str(),
                c.chown.as_deref(),
                c.from.as_deref()
            ),
            (
                strings(&["/data/a", "b"]),
                "/data/",
                Some("app:app"),
                Some("1")
            )
        );
        // RUN, CMD and ONBUILD keep their words for the shell and later.
        assert_eq!(expanded("CMD echo $A"), only("CMD echo $A"));
        assert_eq!(expanded("RUN echo $A"), only("RUN echo $A"));
        assert_eq!(
            expanded("ONBUILD ENV x=$A"),
            Instruction::Onbuild("ENV x=$A".into())
        );
        let mut bad = only("ENV x=\"${NOPE:?must be set}\"");
        assert_eq!(
            bad.expand(&lexer, env.as_slice()).unwrap_err().to_string(),
            "failed to process \"\\\"${NOPE:?must be set}\\\"\": NOPE: must be set"
        );
        // The escape directive changes the lexer's escape character too.
        let s = stages("# escape=`\nFROM x\nENV p=c:\\dir`$A\n");
        let mut env_instr = s.stages[0].instructions[0].instruction.clone();
        env_instr
            .expand(&Lexer::new(s.escape), env.as_slice())
            .unwrap();
        assert_eq!(
            env_instr,
            Instruction::Env(vec![("p".into(), "c:\\dir$A".into())])
        );
    }

    #[test]
    fn ports_and_signals() {
        assert_eq!(
            port_specs("8000-8002").unwrap(),
            strings(&["8000/tcp", "8001/tcp", "8002/tcp"])
        );
        assert_eq!(port_specs("53/UDP").unwrap(), strings(&["53/udp"]));
        assert!(port_specs("x").is_err() && port_specs("9-8").is_err());
        assert!(
            is_signal("SIGTERM") && is_signal("kill") && is_signal("9") && is_signal("RTMIN+3")
        );
        assert!(!is_signal("NOPE") && !is_signal("65") && !is_signal("RTMIN+16"));
    }
}
