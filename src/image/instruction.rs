//! `commit -c` and `import -c`: Dockerfile instructions applied to an
//! image's runtime config, as Docker's `BuildFromConfig` applies them.
//!
//! Accepted: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
//! STOPSIGNAL, USER, VOLUME and WORKDIR. Shell-form CMD and ENTRYPOINT run
//! through the config's `Shell` (`/bin/sh -c` by default); ENTRYPOINT
//! clears an inherited CMD unless the same changes set one; ENV, LABEL,
//! EXPOSE, USER, VOLUME, WORKDIR and STOPSIGNAL words are unquoted and
//! `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}` are expanded from
//! the config's environment, as in a Dockerfile.

use crate::oci::{Field, RuntimeConfig};
use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InstructionError(String);

fn err<T>(message: impl Into<String>) -> Result<T, InstructionError> {
    Err(InstructionError(message.into()))
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
    let lines = logical_lines(&changes.join("\n"));
    let mut parsed = Vec::new();
    for line in &lines {
        let (keyword, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim_start()),
            None => (&line[..], ""),
        };
        let keyword = keyword.to_ascii_lowercase();
        if !VALID.contains(&keyword.as_str()) {
            return err(format!("{keyword} is not a valid change command"));
        }
        parsed.push((keyword, rest));
    }
    let mut cmd_set = false;
    for (keyword, rest) in parsed {
        let env = env_pairs(config);
        match keyword.as_str() {
            "cmd" => {
                config.cmd = Field::Set(command_line(config, rest));
                cmd_set = true;
            }
            "entrypoint" => {
                config.entrypoint = Field::Set(command_line(config, rest));
                if !cmd_set {
                    config.cmd = Field::Null;
                }
            }
            "env" => {
                let list = config.env.get_or_default();
                for (key, value) in name_values(rest, "ENV", &env)? {
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
            "label" => {
                let pairs = name_values(rest, "LABEL", &env)?;
                let labels = config.labels.get_or_default();
                for (key, value) in pairs {
                    labels.insert(key, json!(value));
                }
            }
            "expose" => {
                let mut ports = Vec::new();
                for word in words(rest) {
                    ports.extend(port_specs(&process_word(&word, &env)?)?);
                }
                let exposed = config.exposed_ports.get_or_default();
                for port in ports {
                    exposed.insert(port, json!({}));
                }
            }
            "user" => {
                config.user = Field::Set(process_word(rest, &env)?);
            }
            "workdir" => {
                let path = process_word(rest, &env)?;
                if path.is_empty() {
                    return err("WORKDIR requires exactly one argument");
                }
                let current = config.working_dir.get().map_or("", String::as_str);
                let dir = if path.starts_with('/') {
                    path
                } else {
                    clean(&format!("/{current}/{path}"))
                };
                config.working_dir = Field::Set(dir);
            }
            "volume" => {
                let volumes = match json_array(rest) {
                    Some(list) => list,
                    None => words(rest)
                        .iter()
                        .map(|w| process_word(w, &env))
                        .collect::<Result<_, _>>()?,
                };
                if volumes.is_empty() {
                    return err("VOLUME requires at least one argument");
                }
                let map = config.volumes.get_or_default();
                for volume in volumes {
                    let volume = volume.trim().to_string();
                    if volume.is_empty() {
                        return err("VOLUME specified can not be an empty string");
                    }
                    map.insert(volume, json!({}));
                }
            }
            "stopsignal" => {
                let signal = process_word(rest, &env)?;
                if !is_signal(&signal) {
                    return err(format!("Invalid signal: {signal}"));
                }
                config.stop_signal = Field::Set(signal);
            }
            "onbuild" => {
                let trigger = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "" => return err("ONBUILD requires at least one argument"),
                    "ONBUILD" => {
                        return err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                    }
                    "FROM" | "MAINTAINER" => {
                        return err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                    }
                    _ => {}
                }
                config.on_build.get_or_default().push(rest.to_string());
            }
            "healthcheck" => {
                config.healthcheck = Field::Set(healthcheck(rest)?);
            }
            _ => unreachable!("checked against VALID"),
        }
    }
    Ok(())
}

/// Joins `\`-continued lines and drops blank lines and comments.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current).trim().to_string());
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn env_pairs(config: &RuntimeConfig) -> Vec<(String, String)> {
    config
        .env
        .get()
        .into_iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

/// A JSON array of strings (exec form), or `None`.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// CMD/ENTRYPOINT arguments: exec form as written, shell form through the
/// config's shell.
fn command_line(config: &RuntimeConfig, rest: &str) -> Vec<String> {
    if let Some(list) = json_array(rest) {
        return list;
    }
    let mut shell = config.shell.get().cloned().unwrap_or_default();
    if shell.is_empty() {
        shell = vec!["/bin/sh".into(), "-c".into()];
    }
    shell.push(rest.to_string());
    shell
}

/// Splits on unquoted, unescaped whitespace, keeping quotes and escapes in
/// the words for [`process_word`].
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// `ENV`/`LABEL` arguments: `k=v k2="v 2"`, or the legacy `k value` form.
fn name_values(
    rest: &str,
    what: &str,
    env: &[(String, String)],
) -> Result<Vec<(String, String)>, InstructionError> {
    let list = words(rest);
    let Some(first) = list.first() else {
        return err(format!("{what} requires at least one argument"));
    };
    if !first.contains('=') {
        let value = rest[rest.find(first.as_str()).unwrap_or(0) + first.len()..].trim();
        if value.is_empty() {
            return err(format!("{what} must have two arguments"));
        }
        return Ok(vec![(process_word(first, env)?, process_word(value, env)?)]);
    }
    let mut pairs = Vec::new();
    for word in list {
        let Some((key, value)) = word.split_once('=') else {
            return err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        let key = process_word(key, env)?;
        if key.is_empty() {
            return err(format!("{what} names can not be blank"));
        }
        pairs.push((key, process_word(value, env)?));
    }
    Ok(pairs)
}

/// Removes quotes and escapes and expands variables in one word, as the
/// Dockerfile shell lexer does.
fn process_word(word: &str, env: &[(String, String)]) -> Result<String, InstructionError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    out.push(chars[i]);
                    i += 1;
                }
                if i == chars.len() {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    );
                }
                i += 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if matches!(chars.get(i + 1), Some('"' | '$' | '\\')) => {
                            out.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => i = expand(&chars, i, env, &mut out)?,
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                if i == chars.len() {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    );
                }
                i += 1;
            }
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                i += 2;
            }
            '$' => i = expand(&chars, i, env, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expands the variable reference at `chars[at]` (a `$`) into `out`;
/// returns the index after it.
fn expand(
    chars: &[char],
    at: usize,
    env: &[(String, String)],
    out: &mut String,
) -> Result<usize, InstructionError> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = at + 1;
    match chars.get(i) {
        Some('{') => {
            i += 1;
            let start = i;
            while i < chars.len() && is_name(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let mut modifier = String::new();
            let mut depth = 0;
            while i < chars.len() && !(chars[i] == '}' && depth == 0) {
                match chars[i] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                modifier.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                return err(format!(
                    "missing '}}' in {:?}",
                    chars[at..].iter().collect::<String>()
                ));
            }
            let value = lookup(&name);
            if let Some(default) = modifier.strip_prefix(":-") {
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&process_word(default, env)?),
                }
            } else if let Some(alt) = modifier.strip_prefix(":+") {
                if value.is_some_and(|v| !v.is_empty()) {
                    out.push_str(&process_word(alt, env)?);
                }
            } else if modifier.is_empty() && !name.is_empty() {
                out.push_str(&value.unwrap_or_default());
            } else {
                return err(format!("unsupported modifier ({modifier}) in substitution"));
            }
            Ok(i + 1)
        }
        Some(&c) if is_name(c) => {
            let start = i;
            while i < chars.len() && is_name(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            out.push_str(&lookup(&name).unwrap_or_default());
            Ok(i)
        }
        _ => {
            out.push('$');
            Ok(i)
        }
    }
}

/// `path.Clean` for an absolute path.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `EXPOSE` specs: `80`, `80/udp`, `8000-8002/tcp`.
fn port_specs(spec: &str) -> Result<Vec<String>, InstructionError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let invalid = || InstructionError(format!("invalid containerPort: {ports}"));
    let port = |s: &str| s.parse::<u16>().map_err(|_| invalid());
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if end < start {
        return err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN",
    "RTMAX",
];

/// Docker's `signal.ParseSignal`: a number, or a name with or without
/// `SIG`, including `RTMIN+n` / `RTMAX-n`.
fn is_signal(s: &str) -> bool {
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

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D …] CMD …`.
fn healthcheck(rest: &str) -> Result<Map<String, Value>, InstructionError> {
    let mut rest = rest.trim();
    if rest.eq_ignore_ascii_case("none") {
        return Ok(Map::from_iter([("Test".into(), json!(["NONE"]))]));
    }
    let mut health = Map::new();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (name, value) = flag[..end].split_once('=').ok_or_else(|| {
            InstructionError(format!("missing a value on flag: --{}", &flag[..end]))
        })?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            _ => return err(format!("unknown flag: --{name}")),
        };
        let number = if key == "Retries" {
            value
                .parse::<i64>()
                .map_err(|_| InstructionError(format!("invalid value for --retries: {value}")))?
        } else {
            go_duration(value)
                .ok_or_else(|| InstructionError(format!("time: invalid duration {value:?}")))?
        };
        if number != 0 {
            health.insert(key.into(), json!(number));
        }
        rest = flag[end..].trim_start();
    }
    let (keyword, command) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if !keyword.eq_ignore_ascii_case("cmd") {
        return err(format!(
            "Unknown type {:?} in HEALTHCHECK (try CMD)",
            keyword.to_ascii_uppercase()
        ));
    }
    if command.is_empty() {
        return err("Missing command after HEALTHCHECK CMD");
    }
    let test = match json_array(command) {
        Some(mut list) => {
            list.insert(0, "CMD".into());
            list
        }
        None => vec!["CMD-SHELL".into(), command.to_string()],
    };
    health.insert("Test".into(), json!(test));
    Ok(health)
}

/// A Go duration (`30s`, `1m30s`, `1.5h`, `500ms`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
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
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
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
