//! Source-to-source rewriting of a Go template before gtmpl parses it, to
//! work around gtmpl behaviour that differs from Go's text/template and
//! that gtmpl offers no hook for (its printer and range are private):
//!
//! 1. gtmpl prints an action's value with Rust's `Display`, so a slice is
//!    `[String("a"), String("b")]` instead of Go's `[a b]`. Every action
//!    that prints gets ` | __rimg_print` appended, which formats like Go.
//! 2. gtmpl's `range` walks maps in HashMap (random) order, fails on nil,
//!    and runs its `{{else}}` branch even after iterating. Each `range`
//!    instead iterates a precomputed array of values (sorted by key for
//!    maps, empty for nil), binds keys from a parallel array, and its
//!    `else` becomes an `if` on that array being empty:
//!
//!    ```text
//!    {{range $k, $v := .L}}A{{else}}B{{end}}
//!    =>
//!    {{$__rimg_v0 := __rimg_values (.L)}}{{$__rimg_k0 := __rimg_keys (.L)}}
//!    {{range $__rimg_i0, $v := $__rimg_v0}}{{$k := index $__rimg_k0 $__rimg_i0}}A
//!    {{end}}{{if not $__rimg_v0}}B{{end}}
//!    ```
//! 3. gtmpl's `if` and `with` hold the nil slices and maps of a typed
//!    document (see `value::GoValue`) true; their pipelines get
//!    ` | __rimg_truth` appended, which passes on what Go holds true and
//!    turns the rest into nil. (`and`, `or` and `not` are replaced by
//!    functions with Go's truth.)
//! 4. Trim markers are normalized to the `"{{- "` / `" -}}"` gtmpl accepts
//!    (Go also accepts a tab or newline next to the dash).
//! 5. Line breaks inside actions (allowed since Go 1.16) become spaces, as
//!    gtmpl rejects them.
//!
//! The scanner only needs to find action boundaries: it skips string, raw
//! string and character literals (which may contain `}}`) and comments.
//! Unterminated actions, literals and comments are reported here with Go's
//! wording and the right line; gtmpl's own messages for them are cryptic
//! and its line numbers are unreliable.

use super::funcs::{KEYS_FN, PRINT_FN, TRUTH_FN, VALUES_FN};

/// Go's space characters around trim markers.
fn is_go_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The trim markers of an action.
#[derive(Clone, Copy)]
struct Delims {
    left_trim: bool,
    right_trim: bool,
}

impl Delims {
    fn open(self) -> &'static str {
        if self.left_trim {
            "{{- "
        } else {
            "{{"
        }
    }

    fn close(self) -> &'static str {
        if self.right_trim {
            " -}}"
        } else {
            "}}"
        }
    }
}

/// One `{{…}}` found in the source.
struct Action {
    delims: Delims,
    /// Text between the delimiters and trim markers, whitespace-trimmed.
    body: String,
    comment: bool,
}

/// Go's lexer messages for what the scanner rejects.
const UNCLOSED_ACTION: &str = "unclosed action";
const UNCLOSED_COMMENT: &str = "unclosed comment";
const COMMENT_END: &str = "comment ends before closing delimiter";

fn unterminated(quote: u8) -> &'static str {
    match quote {
        b'`' => "unterminated raw quoted string",
        b'\'' => "unterminated character constant",
        _ => "unterminated quoted string",
    }
}

/// Length of a quoted literal starting at `s[0]` (the quote), including
/// both quotes.
fn quoted_len(s: &[u8], quote: u8) -> Result<usize, &'static str> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' if quote != b'`' => i += 2,
            b'\n' if quote != b'`' => break,
            c if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(unterminated(quote))
}

/// Where the action whose text (after `{{`) is `s` ends: the index of the
/// closing delimiter, whether it has a right trim marker, and the index
/// just past `}}`.
fn find_close(s: &[u8], from: usize) -> Result<(usize, bool, usize), &'static str> {
    let mut i = from;
    while i < s.len() {
        match s[i] {
            b'"' | b'\'' | b'`' => i += quoted_len(&s[i..], s[i])?,
            c if is_go_space(c) && s[i + 1..].starts_with(b"-}}") => {
                return Ok((i, true, i + 4));
            }
            b'}' if s[i..].starts_with(b"}}") => return Ok((i, false, i + 2)),
            _ => i += 1,
        }
    }
    Err(UNCLOSED_ACTION)
}

/// Replaces line breaks outside literals with spaces: Go (1.16+) lets
/// actions span lines, gtmpl reports them as unclosed.
fn join_lines(body: &str) -> String {
    if !body.contains(['\n', '\r']) {
        return body.to_owned();
    }
    let b = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < b.len() {
        let len = match b[i] {
            q @ (b'"' | b'\'' | b'`') => quoted_len(&b[i..], q).unwrap_or(b.len() - i),
            b'\n' | b'\r' => {
                out.push(' ');
                i += 1;
                continue;
            }
            _ => body[i..].chars().next().map_or(1, char::len_utf8),
        };
        out.push_str(&body[i..i + len]);
        i += len;
    }
    out
}

/// Parses the action starting right after a `{{`; returns it and how many
/// bytes of `after` it spans, or Go's lexer message for why it cannot.
fn scan(after: &str) -> Result<(Action, usize), &'static str> {
    let b = after.as_bytes();
    let left_trim = b.len() >= 2 && b[0] == b'-' && is_go_space(b[1]);
    let start = if left_trim { 2 } else { 0 };
    if after[start..].starts_with("/*") {
        let end = after[start..].find("*/").ok_or(UNCLOSED_COMMENT)? + start + 2;
        let (right_trim, past) = if after[end..].starts_with("}}") {
            (false, end + 2)
        } else if b.len() > end + 3 && is_go_space(b[end]) && after[end + 1..].starts_with("-}}") {
            (true, end + 4)
        } else {
            return Err(COMMENT_END);
        };
        let action = Action {
            delims: Delims {
                left_trim,
                right_trim,
            },
            body: after[start..end].to_owned(),
            comment: true,
        };
        return Ok((action, past));
    }
    // A left trim marker's space belongs to the body; start after the dash.
    let body_start = if left_trim { 1 } else { 0 };
    let (close, right_trim, past) = find_close(b, body_start)?;
    let action = Action {
        delims: Delims {
            left_trim,
            right_trim,
        },
        body: join_lines(after[body_start..close].trim()),
        comment: false,
    };
    Ok((action, past))
}

/// Splits a leading identifier (keyword) off an action body.
fn keyword(body: &str) -> &str {
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    &body[..end]
}

/// Parses a variable declaration prefix `$a :=`, `$a, $b :=` (or `=`).
/// Returns the variables and the rest after the operator.
fn declaration(body: &str) -> Option<(Vec<&str>, &str)> {
    fn variable(s: &str) -> Option<(&str, &str)> {
        if !s.starts_with('$') {
            return None;
        }
        let end = s[1..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(s.len(), |i| i + 1);
        Some((&s[..end], s[end..].trim_start()))
    }
    let (first, mut rest) = variable(body)?;
    let mut vars = vec![first];
    if let Some(after_comma) = rest.strip_prefix(',') {
        let (second, r) = variable(after_comma.trim_start())?;
        vars.push(second);
        rest = r;
    }
    if let Some(r) = rest.strip_prefix(":=") {
        return Some((vars, r.trim_start()));
    }
    match rest.strip_prefix('=') {
        Some(r) if !r.starts_with('=') => Some((vars, r.trim_start())),
        _ => None,
    }
}

/// An `if`, `with` or `else if` action testing its pipeline with Go's
/// truth; others (a bare `else`, an `if` with no pipeline, whose error
/// gtmpl reports) as they are.
fn with_truth(body: &str) -> String {
    let condition = body.strip_prefix("else").map_or(body, str::trim_start);
    let pipeline = condition[keyword(condition).len()..].trim();
    if pipeline.is_empty() || !matches!(keyword(condition), "if" | "with") {
        return body.to_owned();
    }
    format!("{body} | {TRUTH_FN}")
}

/// Open control structures, to find which `{{else}}` belongs to a range.
enum Block {
    Range(usize),
    Other,
}

struct Rewriter {
    out: String,
    blocks: Vec<Block>,
    ranges: usize,
}

impl Rewriter {
    fn emit(&mut self, d: Delims, body: &str) {
        self.out.push_str(d.open());
        self.out.push_str(body);
        self.out.push_str(d.close());
    }

    fn action(&mut self, a: &Action) {
        let d = a.delims;
        let body = a.body.as_str();
        if a.comment {
            self.emit(d, body);
            return;
        }
        match keyword(body) {
            "if" | "with" => {
                self.blocks.push(Block::Other);
                self.emit(d, &with_truth(body));
            }
            "define" | "block" => {
                self.blocks.push(Block::Other);
                self.emit(d, body);
            }
            "range" => self.range(d, body),
            "end" => {
                self.blocks.pop();
                self.emit(d, body);
            }
            "else" => match self.blocks.last() {
                Some(&Block::Range(n)) if body == "else" => {
                    // From here on we are inside `if not <values>`, closed by
                    // the range's original `{{end}}`.
                    self.emit(
                        Delims {
                            right_trim: false,
                            ..d
                        },
                        "end",
                    );
                    self.emit(
                        Delims {
                            left_trim: false,
                            ..d
                        },
                        &format!("if not $__rimg_v{n}"),
                    );
                    if let Some(last) = self.blocks.last_mut() {
                        *last = Block::Other;
                    }
                }
                _ => self.emit(d, &with_truth(body)),
            },
            "template" | "nil" | "break" | "continue" => self.emit(d, body),
            _ if body.is_empty() || declaration(body).is_some() => self.emit(d, body),
            _ => self.emit(d, &format!("{body} | {PRINT_FN}")),
        }
    }

    fn range(&mut self, d: Delims, body: &str) {
        let rest = body["range".len()..].trim_start();
        let (vars, pipe) = declaration(rest).unwrap_or((Vec::new(), rest));
        let n = self.ranges;
        self.ranges += 1;
        self.blocks.push(Block::Range(n));

        let first = Delims {
            right_trim: false,
            ..d
        };
        let middle = Delims {
            left_trim: false,
            right_trim: false,
        };
        let last = Delims {
            left_trim: false,
            ..d
        };
        self.emit(first, &format!("$__rimg_v{n} := {VALUES_FN} ({pipe})"));
        match vars.as_slice() {
            [] => self.emit(last, &format!("range $__rimg_v{n}")),
            [v] => self.emit(last, &format!("range {v} := $__rimg_v{n}")),
            [k, v, ..] => {
                self.emit(middle, &format!("$__rimg_k{n} := {KEYS_FN} ({pipe})"));
                self.emit(middle, &format!("range $__rimg_i{n}, {v} := $__rimg_v{n}"));
                self.emit(last, &format!("{k} := index $__rimg_k{n} $__rimg_i{n}"));
            }
        }
    }
}

/// A template the scanner rejected, reported like Go's lexer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    /// 1-based line of the offending action.
    pub line: usize,
    /// Go's message, e.g. "unclosed action".
    pub msg: &'static str,
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: :{}: {}", self.line, self.msg)
    }
}

/// Rewrites `src` as described in the module documentation.
pub fn rewrite(src: &str) -> Result<String, RewriteError> {
    let mut r = Rewriter {
        out: String::with_capacity(src.len() + 64),
        blocks: Vec::new(),
        ranges: 0,
    };
    let mut pos = 0;
    while let Some(open) = src[pos..].find("{{").map(|i| pos + i) {
        r.out.push_str(&src[pos..open]);
        let after = &src[open + 2..];
        let (action, len) = scan(after).map_err(|msg| RewriteError {
            line: 1 + src[..open].matches('\n').count(),
            msg,
        })?;
        r.action(&action);
        pos = open + 2 + len;
    }
    r.out.push_str(&src[pos..]);
    Ok(r.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(src: &str) -> String {
        rewrite(src).unwrap()
    }

    #[test]
    fn wraps_printing_actions_only() {
        assert_eq!(
            rw("{{.ID}}\t{{ .Tag }}"),
            "{{.ID | __rimg_print}}\t{{.Tag | __rimg_print}}"
        );
        assert_eq!(
            rw("{{if .X}}{{json .Y}}{{else if .Z}}z{{else}}n{{end}}"),
            "{{if .X | __rimg_truth}}{{json .Y | __rimg_print}}{{else if .Z | __rimg_truth}}z{{else}}n{{end}}"
        );
        assert_eq!(
            rw("{{$x := .A}}{{$x}}"),
            "{{$x := .A}}{{$x | __rimg_print}}"
        );
        assert_eq!(
            rw("{{$a, $b := 1}}{{$a = 2}}{{eq $a 2}}"),
            "{{$a, $b := 1}}{{$a = 2}}{{eq $a 2 | __rimg_print}}"
        );
        assert_eq!(
            rw("{{template \"x\" .}}{{/* c */}}"),
            "{{template \"x\" .}}{{/* c */}}"
        );
        assert_eq!(rw("plain text"), "plain text");
        assert_eq!(rw("{{}}"), "{{}}");
    }

    #[test]
    fn tests_conditions_with_go_truth() {
        assert_eq!(
            rw("{{with $e := .E}}{{$e}}{{else if and .A .B}}{{end}}"),
            "{{with $e := .E | __rimg_truth}}{{$e | __rimg_print}}\
             {{else if and .A .B | __rimg_truth}}{{end}}"
        );
        // No pipeline: gtmpl's own error stands.
        assert_eq!(rw("{{if}}{{end}}"), "{{if}}{{end}}");
        assert_eq!(rw("{{else}}"), "{{else}}");
    }

    #[test]
    fn skips_literals_containing_delimiters() {
        assert_eq!(
            rw(r#"{{printf "}}%s\"" .A}}x"#),
            r#"{{printf "}}%s\"" .A | __rimg_print}}x"#
        );
        assert_eq!(rw("{{`}}`}}"), "{{`}}` | __rimg_print}}");
        assert_eq!(rw("{{'}'}}"), "{{'}' | __rimg_print}}");
    }

    #[test]
    fn normalizes_trim_markers() {
        assert_eq!(rw("a {{- .A -}} b"), "a {{- .A | __rimg_print -}} b");
        assert_eq!(rw("a {{-\t.A\t-}} b"), "a {{- .A | __rimg_print -}} b");
        // Without a space the dash is not a trim marker.
        assert_eq!(rw("{{-3}}"), "{{-3 | __rimg_print}}");
        assert_eq!(rw("{{- /* c */ -}}"), "{{- /* c */ -}}");
    }

    #[test]
    fn reports_malformed_actions_like_go() {
        let err = |src| rewrite(src).unwrap_err().to_string();
        assert_eq!(err("a {{.ID"), "template: :1: unclosed action");
        assert_eq!(
            err("{{.A}}\n{{\"x}}"),
            "template: :2: unterminated quoted string"
        );
        assert_eq!(err("{{`x"), "template: :1: unterminated raw quoted string");
        assert_eq!(
            err("{{'x}}"),
            "template: :1: unterminated character constant"
        );
        assert_eq!(err("{{/* x"), "template: :1: unclosed comment");
        assert_eq!(
            err("{{/* x */ }}"),
            "template: :1: comment ends before closing delimiter"
        );
    }

    #[test]
    fn joins_actions_spanning_lines() {
        assert_eq!(
            rw("{{if\n  .X}}a{{end}}"),
            "{{if   .X | __rimg_truth}}a{{end}}"
        );
        assert_eq!(rw("{{\n.A\n}}"), "{{.A | __rimg_print}}");
        // Raw strings keep their line breaks.
        assert_eq!(
            rw("{{printf `a\nb`\n.A}}"),
            "{{printf `a\nb` .A | __rimg_print}}"
        );
    }

    #[test]
    fn rewrites_ranges() {
        assert_eq!(
            rw("{{range .L}}{{.}}{{end}}"),
            "{{$__rimg_v0 := __rimg_values (.L)}}{{range $__rimg_v0}}{{. | __rimg_print}}{{end}}"
        );
        assert_eq!(
            rw("{{range $v := .L}}{{end}}"),
            "{{$__rimg_v0 := __rimg_values (.L)}}{{range $v := $__rimg_v0}}{{end}}"
        );
        assert_eq!(
            rw("{{- range $k, $v := .L -}}x{{end}}"),
            "{{- $__rimg_v0 := __rimg_values (.L)}}{{$__rimg_k0 := __rimg_keys (.L)}}\
             {{range $__rimg_i0, $v := $__rimg_v0}}{{$k := index $__rimg_k0 $__rimg_i0 -}}x{{end}}"
        );
        assert_eq!(
            rw("{{range $x}}{{end}}"),
            "{{$__rimg_v0 := __rimg_values ($x)}}{{range $__rimg_v0}}{{end}}"
        );
    }

    #[test]
    fn rewrites_only_the_else_of_a_range() {
        assert_eq!(
            rw("{{range .L}}{{if .}}a{{else}}b{{end}}{{- else -}}none{{end}}{{with .W}}{{else}}{{end}}"),
            "{{$__rimg_v0 := __rimg_values (.L)}}{{range $__rimg_v0}}{{if . | __rimg_truth}}a{{else}}b{{end}}\
             {{- end}}{{if not $__rimg_v0 -}}none{{end}}{{with .W | __rimg_truth}}{{else}}{{end}}"
        );
        assert_eq!(
            rw("{{range .A}}{{range .B}}{{end}}{{else}}e{{end}}"),
            "{{$__rimg_v0 := __rimg_values (.A)}}{{range $__rimg_v0}}\
             {{$__rimg_v1 := __rimg_values (.B)}}{{range $__rimg_v1}}{{end}}\
             {{end}}{{if not $__rimg_v0}}e{{end}}"
        );
    }
}
