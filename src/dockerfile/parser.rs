//! The Dockerfile grammar (BuildKit's `frontend/dockerfile/parser`): parser
//! directives, comments, continuation lines, instruction words and flags,
//! JSON (exec) versus shell form, heredocs. It gives each instruction its
//! raw words; what they mean is [`super::instructions`]'s business.

use super::shell::{Lexer, NoEnv};
use super::{DockerfileError, ErrorKind};

/// A parsed Dockerfile: its escape character and instructions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub nodes: Vec<Node>,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction's name as written (`copy`, `COPY`).
    pub keyword: String,
    /// `--name[=value]` words before the arguments, unquoted.
    pub flags: Vec<String>,
    /// The arguments: a JSON array's strings, whitespace-separated words,
    /// key/value pairs (ENV, LABEL: key, value, key, value…), or the rest
    /// of the line as one string, depending on the instruction.
    pub args: Vec<String>,
    /// The arguments came as a JSON array (exec form).
    pub json: bool,
    /// The whole instruction, continuation lines joined.
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    /// ONBUILD's trigger.
    pub trigger: Option<Box<Node>>,
    /// A blank line sat inside the continuation: Docker builds it but warns
    /// ("Empty continuation line found in: …").
    pub empty_continuation: bool,
    /// 1-based lines the instruction spans (heredoc bodies included).
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the keyword on its first line.
    pub column: usize,
}

/// A heredoc's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, unquoted (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The lines up to the delimiter, newlines included, as written (see
    /// [`Heredoc::chomped`] for `<<-`).
    pub content: String,
    /// No part of the delimiter was quoted: the body is expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are removed from the body and the delimiter.
    pub chomp: bool,
    /// `3<<EOF`'s file descriptor (0 when none was given).
    pub fd: u32,
}

impl Heredoc {
    /// The body with leading tabs removed from each line when `<<-`.
    pub fn chomped(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

impl Node {
    /// The instruction's name in lower case.
    pub fn name(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }

    /// RUN, COPY and ADD (also as ONBUILD triggers) in shell form.
    fn can_contain_heredoc(&self) -> bool {
        let node = self.trigger.as_deref().unwrap_or(self);
        matches!(node.name().as_str(), "run" | "copy" | "add") && !node.json
    }
}

/// Go's `unicode.IsSpace` (what `strings.TrimSpace` trims).
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// BuildKit's `reWhitespace`: `[\t\v\f\r ]+`.
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Parser directives: recognised only in the leading comment lines.
struct Directives {
    escape: char,
    done: bool,
    seen_escape: bool,
    seen_syntax: bool,
    seen_check: bool,
}

impl Directives {
    /// Looks at a line while directives may still come (BuildKit's
    /// `#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`); anything else ends them.
    fn consider(&mut self, line: &str) -> Result<(), ErrorKind> {
        if self.done {
            return Ok(());
        }
        let parsed = line.strip_prefix('#').and_then(|rest| {
            let (key, value) = rest.split_once('=')?;
            let key = key.trim();
            let value = value.trim();
            let mut chars = key.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric())
                && !value.is_empty();
            valid.then(|| (key.to_ascii_lowercase(), value))
        });
        let Some((key, value)) = parsed else {
            self.done = true;
            return Ok(());
        };
        let seen = match key.as_str() {
            "escape" => &mut self.seen_escape,
            "syntax" => &mut self.seen_syntax,
            "check" => &mut self.seen_check,
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if std::mem::replace(seen, true) {
            return Err(ErrorKind::DuplicateDirective(key));
        }
        if key == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => return Err(ErrorKind::InvalidEscape(value.to_string())),
            };
        }
        Ok(())
    }
}

/// Lines with their newline (`\r\n` read as `\n`), as BuildKit's scanner.
struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = std::borrow::Cow<'a, str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(match line.strip_suffix("\r\n") {
            Some(head) => format!("{head}\n").into(),
            None => line.into(),
        })
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    trim_newline(line)
        .trim_start_matches(is_space)
        .starts_with('#')
}

/// Removes a trailing escape character (and blanks after it): the line
/// goes on on the next one. As Docker 20.10's parser (`E[ \t]*$`), this is
/// so even after another escape character: the reference's `c:\\` example
/// runs into the next line. (Newer BuildKit keeps `\\` at the end.)
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(head) => (head, false),
        None => (line, true),
    }
}

/// Parses a Dockerfile's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, DockerfileError> {
    let at = |line: usize, column: usize| {
        move |kind: ErrorKind| DockerfileError::new(file, line, column, kind)
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut directives = Directives {
        escape: '\\',
        done: false,
        seen_escape: false,
        seen_syntax: false,
        seen_check: false,
    };
    let mut lines = Lines { rest: text };
    let mut current = 0;
    let mut nodes = Vec::new();
    while let Some(raw) = lines.next() {
        let token = trim_newline(&raw).trim_start_matches(is_space);
        directives.consider(token).map_err(at(current + 1, 1))?;
        current += 1;
        let start_line = current;
        let column = trim_newline(&raw)
            .chars()
            .take_while(|&c| is_space(c))
            .count()
            + 1;
        let token = if is_comment(&raw) { "" } else { token };
        let (first, mut ended) = trim_continuation(token, directives.escape);
        if ended && first.is_empty() {
            continue;
        }
        let mut buf = first.to_string();
        let mut empty_continuation = false;
        while !ended {
            let Some(raw) = lines.next() else { break };
            let line = trim_newline(&raw);
            directives.consider(line).map_err(at(current + 1, 1))?;
            current += 1;
            // Comment and blank lines inside a continuation are skipped.
            if is_comment(&raw) {
                continue;
            }
            if line.trim_start_matches(is_space).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(line, directives.escape);
            buf.push_str(part);
            ended = end;
        }
        let mut node =
            node_from_line(&buf, directives.escape, false).map_err(at(start_line, column))?;
        if node.can_contain_heredoc() && first.contains("<<") {
            for mut heredoc in heredocs_in(first).map_err(at(start_line, column))? {
                let mut terminated = false;
                for raw in lines.by_ref() {
                    current += 1;
                    let mut candidate = trim_newline(&raw);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(&raw);
                }
                if !terminated {
                    return Err(at(start_line, column)(ErrorKind::UnterminatedHeredoc));
                }
                node.heredocs.push(heredoc);
            }
        }
        node.empty_continuation = empty_continuation;
        node.start_line = start_line;
        node.end_line = current;
        node.column = column;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(at(current.max(1), 1)(ErrorKind::NoInstructions));
    }
    Ok(Dockerfile {
        escape: directives.escape,
        nodes,
    })
}

/// One instruction's node from its joined line (BuildKit's
/// `newNodeFromLine`); lines and heredocs are the caller's.
fn node_from_line(line: &str, escape: char, is_trigger: bool) -> Result<Node, ErrorKind> {
    let trimmed = line.trim_matches(is_space);
    let (keyword, rest) = match trimmed.find(is_separator) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start_matches(is_separator)),
        None => (trimmed, ""),
    };
    let (rest, flags) = extract_flags(rest);
    let rest = rest.trim_matches(is_space);
    let mut node = Node {
        keyword: keyword.to_string(),
        flags,
        args: Vec::new(),
        json: false,
        original: line.to_string(),
        heredocs: Vec::new(),
        trigger: None,
        empty_continuation: false,
        start_line: 0,
        end_line: 0,
        column: 0,
    };
    match node.name().as_str() {
        "add" | "copy" | "volume" => {
            (node.args, node.json) = maybe_json(rest, true)?;
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            (node.args, node.json) = maybe_json(rest, false)?;
        }
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = name_values(rest, "ENV", escape)?,
        "label" => node.args = name_values(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = whitespace_words(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_string()];
        }
        "healthcheck" => {
            let kind_end = rest.find(is_space).unwrap_or(rest.len());
            if kind_end > 0 {
                let (args, json) =
                    maybe_json(rest[kind_end..].trim_start_matches(is_space), false)?;
                node.args = std::iter::once(rest[..kind_end].to_string())
                    .chain(args)
                    .collect();
                node.json = json;
            }
        }
        // A trigger's own trigger is not parsed: `ONBUILD ONBUILD` is refused
        // anyway, and a chain of them must not recurse without bound.
        "onbuild" if !rest.is_empty() && !is_trigger => {
            let trigger = node_from_line(rest, escape, true)?;
            node.args = vec![trigger.keyword.clone(), trigger.original.clone()];
            node.trigger = Some(Box::new(trigger));
        }
        // Unknown instructions are refused by `instructions`, which knows
        // the line; known ones without arguments by their checks there.
        _ => {}
    }
    Ok(node)
}

/// `--flag` words at the start of the arguments (BuildKit's
/// `extractBuilderFlags`: quotes and `\` removed, `--` ends them); returns
/// the rest of the line and the flags.
fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &line[pos..];
        let start = rest.len() - rest.trim_start_matches(is_space).len();
        pos += start;
        if !line[pos..].starts_with("--") {
            return (&line[pos..], flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        let mut chars = line[pos..].char_indices();
        let mut end = line.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if is_space(c) => {
                    end = pos + i;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    // A `\` at the very end is dropped.
                    if let Some((_, next)) = chars.next() {
                        word.push(next);
                    }
                }
                _ => word.push(c),
            }
        }
        if word == "--" {
            return (&line[end..], flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
        pos = end;
        if pos == line.len() {
            return ("", flags);
        }
    }
}

/// A JSON array of strings (exec form); otherwise the line as one shell
/// string, or (`to_list`) its whitespace-separated words. A JSON array
/// holding something other than strings is an error, as in Docker.
fn maybe_json(rest: &str, to_list: bool) -> Result<(Vec<String>, bool), ErrorKind> {
    if rest.starts_with('[') {
        if let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) {
            return values
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(ErrorKind::NotStringArray),
                })
                .collect::<Result<_, _>>()
                .map(|args| (args, true));
        }
    }
    if to_list {
        return Ok((whitespace_words(rest), false));
    }
    Ok((
        if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_string()]
        },
        false,
    ))
}

fn whitespace_words(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words separated by unquoted whitespace, quotes and escapes kept for the
/// lexer (BuildKit's `parseWords`).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if quote.is_none() && is_space(c) {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            blank_ok = false;
            continue;
        }
        match quote {
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                blank_ok = true;
            }
            Some(q) if c == q => quote = None,
            _ => {}
        }
        // The escape character keeps the next one, whatever it is, except
        // inside single quotes; one at the very end is dropped.
        if c == escape && quote != Some('\'') {
            let Some(next) = chars.next() else { break };
            word.push(c);
            word.push(next);
            continue;
        }
        word.push(c);
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `key=value …` pairs, or the old `KEY value with spaces`;
/// flattened to key, value, key, value…
fn name_values(rest: &str, what: &'static str, escape: char) -> Result<Vec<String>, ErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some(i) = rest.find(is_separator) else {
            return Err(ErrorKind::TwoArguments(what));
        };
        let value = rest[i..].trim_start_matches(is_separator);
        return Ok(vec![rest[..i].to_string(), value.to_string()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(ErrorKind::MissingEquals(word));
        };
        out.push(key.to_string());
        out.push(value.to_string());
    }
    Ok(out)
}

/// Heredoc words (`<<EOF`, `<<-"EOF"`, `3<<EOF`) in an instruction's first
/// line, in order.
fn heredocs_in(line: &str) -> Result<Vec<Heredoc>, ErrorKind> {
    let words = Lexer::raw(true, true, false)
        .process_words(line, &NoEnv)
        .unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(heredoc) = heredoc_word(&word)? {
            out.push(heredoc);
        }
    }
    Ok(out)
}

/// BuildKit's `ParseHeredoc`: `^(\d*)<<(-?)([^<]*)$`, the name one word
/// after unquoting; quotes anywhere in it turn expansion off.
pub(crate) fn heredoc_word(word: &str) -> Result<Option<Heredoc>, ErrorKind> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let lex = |raw_quotes| {
        Lexer::raw(raw_quotes, false, true)
            .process_words(rest, &NoEnv)
            .map_err(|e| ErrorKind::Invalid(e.to_string()))
    };
    let words = lex(false)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = lex(true)?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = raw.first().is_some_and(|r| quotes(r) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        chomp,
        fd: word[..digits].parse().unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Vec<Node> {
        parse("Dockerfile", text).unwrap().nodes
    }

    fn args(text: &str) -> Vec<Vec<String>> {
        nodes(text).into_iter().map(|n| n.args).collect()
    }

    fn error(text: &str) -> String {
        parse("Dockerfile", text).unwrap_err().to_string()
    }

    #[test]
    fn instructions_comments_and_continuations() {
        let text = "# a comment\nFROM busybox AS b\n\n  run echo a \\\n  # inside\n\n   b\ncopy --chown=1:1 --from=\"x y\" a b/\n";
        let n = nodes(text);
        assert_eq!(n.len(), 3);
        assert_eq!((n[0].keyword.as_str(), n[0].start_line), ("FROM", 2));
        assert_eq!(n[0].args, ["busybox", "AS", "b"]);
        assert_eq!(n[1].name(), "run");
        assert_eq!(n[1].args, ["echo a    b"]);
        assert_eq!((n[1].start_line, n[1].end_line, n[1].column), (4, 7, 3));
        assert!(n[1].empty_continuation && !n[0].empty_continuation);
        assert_eq!(n[2].flags, ["--chown=1:1", "--from=x y"]);
        assert_eq!(n[2].args, ["a", "b/"]);
        assert_eq!(n[2].start_line, 8);
    }

    #[test]
    fn escape_directive_examples() {
        // The reference's Windows example: backtick continues lines, `\` is
        // an ordinary character.
        let text = "# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\nRUN a `\n  b\n";
        let d = parse("Dockerfile", text).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.nodes.len(), 4);
        // Without the directive, the reference's example is two
        // instructions: `c:\\` ends in a continuation.
        let n = nodes("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].args, ["testfile.txt", "c:\\RUN", "dir", "c:"]);
        assert_eq!(d.nodes[1].args, ["testfile.txt", "c:\\"]);
        assert_eq!(d.nodes[3].args, ["a   b"]);
        // After an instruction, blank line or comment, it is a comment.
        for late in [
            "FROM x\n# escape=`\nRUN a `\nRUN b\n",
            "\n# escape=`\nFROM x\nRUN a `\nRUN b\n",
            "# hi\n# escape=`\nFROM x\nRUN a `\nRUN b\n",
            "# unknowndirective=value\n# escape=`\nFROM x\nRUN a `\nRUN b\n",
        ] {
            assert_eq!(parse("Dockerfile", late).unwrap().escape, '\\', "{late}");
        }
        let d = parse(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n#escape = `\nFROM x\n",
        )
        .unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(
            error("# escape=\\\n# escape=`\nFROM x\n"),
            "Dockerfile:2: only one escape parser directive can be used"
        );
        assert_eq!(
            error("# escape=x\nFROM x\n"),
            "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn json_and_shell_forms() {
        let n = nodes("CMD [\"a\", \"b c\"]\nCMD [a, b]\nRUN [ \"x\" ]\nVOLUME /a /b\nVOLUME [\"/c\"]\nENTRYPOINT []\nCMD [\"a\"] trailing\n");
        assert_eq!(
            (n[0].json, n[0].args.clone()),
            (true, vec!["a".into(), "b c".into()])
        );
        assert_eq!(
            (n[1].json, n[1].args.clone()),
            (false, vec!["[a, b]".into()])
        );
        assert!(n[2].json);
        assert_eq!(n[3].args, ["/a", "/b"]);
        assert_eq!((n[4].json, n[4].args.clone()), (true, vec!["/c".into()]));
        assert_eq!((n[5].json, n[5].args.len()), (true, 0));
        assert!(!n[6].json);
        assert_eq!(
            error("FROM x\nCMD [\"a\", 1]\n"),
            "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"
        );
    }

    #[test]
    fn env_label_arg_words() {
        assert_eq!(
            args("ENV A=1 B=\"x y\" C=a\\ b\nENV OLD a  value\nLABEL \"k\"=v\nARG x y=2 'z z'=3\n"),
            vec![
                vec!["A", "1", "B", "\"x y\"", "C", "a\\ b"],
                vec!["OLD", "a  value"],
                vec!["\"k\"", "v"],
                vec!["x", "y=2", "'z z'=3"],
            ]
        );
        assert_eq!(
            error("FROM x\nENV A\n"),
            "Dockerfile:2: ENV must have two arguments"
        );
        assert_eq!(
            error("FROM x\nLABEL a=b c\n"),
            "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value"
        );
    }

    #[test]
    fn heredoc_examples() {
        let text = "FROM x\nRUN <<EOF\napt-get update\napt-get install -y vim\nEOF\nCOPY <<-\"A\" /a <<B /b\n\tone $X\n\tA\ntwo\nB\nRUN 3<<x cat <&3\nhi\nx\n";
        let n = nodes(text);
        assert_eq!(n[1].args, ["<<EOF"]);
        assert_eq!(
            n[1].heredocs[0].content,
            "apt-get update\napt-get install -y vim\n"
        );
        assert!(n[1].heredocs[0].expand);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 5));
        let (a, b) = (&n[2].heredocs[0], &n[2].heredocs[1]);
        assert_eq!((a.name.as_str(), a.chomp, a.expand), ("A", true, false));
        assert_eq!(
            (a.content.as_str(), a.chomped()),
            ("\tone $X\n", "one $X\n".into())
        );
        assert_eq!(
            (b.name.as_str(), b.content.as_str(), b.expand),
            ("B", "two\n", true)
        );
        assert_eq!(n[2].args, ["<<-\"A\"", "/a", "<<B", "/b"]);
        assert_eq!(
            (n[3].heredocs[0].fd, n[3].heredocs[0].content.as_str()),
            (3, "hi\n")
        );
        // Quoted or partly quoted delimiters, and `<<` that is no heredoc.
        let n = nodes("FROM x\nRUN cat <<'E'O\nx\nEO\nRUN echo \"<<EOF\" <<<x\nCMD <<EOF\n");
        assert!(!n[1].heredocs[0].expand);
        assert_eq!(n[1].heredocs[0].name, "EO");
        assert!(n[2].heredocs.is_empty() && n[3].heredocs.is_empty());
        assert_eq!(
            error("FROM x\nRUN <<EOF\nnever ends\n"),
            "Dockerfile:2: unterminated heredoc"
        );
    }

    #[test]
    fn onbuild_and_healthcheck_nodes() {
        let n = nodes("ONBUILD run --mount=type=cache,target=/c make\nHEALTHCHECK --interval=5s CMD [\"a\"]\nHEALTHCHECK NONE\n");
        let t = n[0].trigger.as_deref().unwrap();
        assert_eq!(
            (t.name().as_str(), t.flags.clone()),
            ("run", vec!["--mount=type=cache,target=/c".to_string()])
        );
        assert_eq!(n[0].args, ["run", "run --mount=type=cache,target=/c make"]);
        assert_eq!(
            (n[1].flags.clone(), n[1].args.clone(), n[1].json),
            (
                vec!["--interval=5s".to_string()],
                vec!["CMD".to_string(), "a".into()],
                true
            )
        );
        assert_eq!(n[2].args, ["NONE"]);
        let chain = format!("{}RUN x\n", "ONBUILD ".repeat(100_000));
        let n = nodes(&chain);
        assert_eq!(n[0].args[0], "ONBUILD");
        assert!(n[0].trigger.as_ref().is_some_and(|t| t.trigger.is_none()));
    }

    #[test]
    fn flags_end_at_double_dash_and_plain_words() {
        assert_eq!(
            extract_flags("--a=1 --b x --c"),
            ("x --c", vec!["--a=1".into(), "--b".into()])
        );
        assert_eq!(extract_flags("--a -- --b"), (" --b", vec!["--a".into()]));
        assert_eq!(
            extract_flags("--a=\"x y\" z"),
            ("z", vec!["--a=x y".into()])
        );
        assert_eq!(extract_flags("-a"), ("-a", vec![]));
    }

    #[test]
    fn crlf_bom_and_empty_files() {
        let n = nodes("\u{feff}FROM x\r\nRUN a \\\r\n b\r\n");
        assert_eq!(n[1].args, ["a  b"]);
        assert_eq!(
            error("# only\n\n"),
            "Dockerfile:2: file with no instructions"
        );
        assert_eq!(error(""), "Dockerfile:1: file with no instructions");
    }

    #[test]
    fn a_hundred_thousand_lines_parse() {
        let mut text = String::from("FROM scratch\n");
        for i in 0..100_000 {
            text.push_str(&format!("ENV V{i}=\"value {i}\" \\\n  W{i}=x\n"));
        }
        assert_eq!(nodes(&text).len(), 100_001);
        let long_continuation = format!("FROM x\nRUN {}end\n", "a \\\n".repeat(100_000));
        assert_eq!(nodes(&long_continuation)[1].end_line, 100_002);
    }
}
