//! JSON written byte-for-byte like Go's `encoding/json`, which is what the
//! docker CLI prints for `--format json`, `{{json .}}` and `inspect`.
//!
//! serde_json already matches Go's compact and indented layouts and its
//! escapes for quotes, backslashes and control characters (`\n`, `\b`,
//! `\u001f`, lowercase hex). What differs, and is handled by [`GoFormatter`]:
//!
//! * Go escapes U+2028 and U+2029 (as `\u2028`, `\u2029`) always, and
//!   `<`, `>`, `&` (as `\u003c`, `\u003e`, `\u0026`) unless HTML escaping is
//!   turned off. The CLI's `json` template function turns it off; the
//!   `MarshalJSON` of list rows (`docker images --format json`, and
//!   `{{json .}}` on one) leaves it on, hence `"\u003cnone\u003e"`; the
//!   daemon's inspect output has it off.
//! * Floats: Go writes `1e+21` and `1e-7` where serde_json writes `1e21`
//!   and `1e-7`, and `0.000001` where serde_json writes `1e-6`.
//!
//! Map keys come out sorted for `serde_json::Value` (a BTreeMap without the
//! `preserve_order` feature), which is also Go's order for maps; structs
//! keep their field order, as Go's structs do.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

use super::gonum;

/// A serde_json formatter producing Go `encoding/json` output.
#[derive(Debug, Clone)]
pub struct GoFormatter {
    escape_html: bool,
    /// `None` for compact output, else the indent unit (Go's `MarshalIndent`
    /// with an empty prefix).
    indent: Option<String>,
    depth: usize,
    has_value: bool,
}

impl GoFormatter {
    /// Compact output, like `json.Marshal` (`escape_html = true`) or an
    /// encoder with `SetEscapeHTML(false)`.
    pub fn compact(escape_html: bool) -> GoFormatter {
        GoFormatter {
            escape_html,
            indent: None,
            depth: 0,
            has_value: false,
        }
    }

    /// Indented output, like `json.MarshalIndent(v, "", indent)` or
    /// `json.Indent`.
    pub fn indented(escape_html: bool, indent: &str) -> GoFormatter {
        GoFormatter {
            indent: Some(indent.to_owned()),
            ..GoFormatter::compact(escape_html)
        }
    }

    fn newline_indent<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        if let Some(unit) = &self.indent {
            writer.write_all(b"\n")?;
            for _ in 0..self.depth {
                writer.write_all(unit.as_bytes())?;
            }
        }
        Ok(())
    }

    fn open<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        // Empty containers stay `[]` / `{}` in Go's indented output too.
        if self.has_value {
            self.newline_indent(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.newline_indent(writer)
    }
}

impl Formatter for GoFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(gonum::format_json(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json hands us text that needs no escaping by its rules (its
        // own escapes, via the default `write_char_escape`, are Go's, with
        // Go 1.22+'s `\b` and `\f`); add Go's extra ones.
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' if self.escape_html => "\\u003c",
                '>' if self.escape_html => "\\u003e",
                '&' if self.escape_html => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(if self.indent.is_some() { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Serializes `value` with `formatter`. Serialization only fails for values
/// JSON cannot represent (e.g. maps with non-string keys); the error says so.
fn to_string_with<T: Serialize + ?Sized>(
    value: &T,
    formatter: GoFormatter,
) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    let mut ser = Serializer::with_formatter(&mut buf, formatter);
    value.serialize(&mut ser)?;
    // Both serde_json and our escapes only ever write UTF-8.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Compact Go JSON: `json.Marshal` when `escape_html`, the CLI's `json`
/// template function when not.
pub fn to_go_json<T: Serialize + ?Sized>(
    value: &T,
    escape_html: bool,
) -> Result<String, serde_json::Error> {
    to_string_with(value, GoFormatter::compact(escape_html))
}

/// Indented Go JSON, like `json.MarshalIndent(v, "", indent)`.
pub fn to_go_json_indent<T: Serialize + ?Sized>(
    value: &T,
    escape_html: bool,
    indent: &str,
) -> Result<String, serde_json::Error> {
    to_string_with(value, GoFormatter::indented(escape_html, indent))
}

/// `value` with every object's keys in sorted order, as Go's encoder
/// writes maps (serde_json here keeps insertion order, for `inspect`'s
/// struct-like output).
pub fn sort_keys(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sort_keys).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorted_and_html_escaping() {
        let v = sort_keys(
            &json!({"Tag": "<none>", "Repository": "a&b", "Size": 5, "Ok": true, "N": null}),
        );
        assert_eq!(
            to_go_json(&v, true).unwrap(),
            r#"{"N":null,"Ok":true,"Repository":"a\u0026b","Size":5,"Tag":"\u003cnone\u003e"}"#
        );
        assert_eq!(
            to_go_json(&v, false).unwrap(),
            r#"{"N":null,"Ok":true,"Repository":"a&b","Size":5,"Tag":"<none>"}"#
        );
    }

    #[test]
    fn string_escapes_match_go() {
        let v = json!("q\"b\\n\n\t\r\u{8}\u{c}\u{1}\u{7f}\u{2028}\u{2029}é");
        assert_eq!(
            to_go_json(&v, false).unwrap(),
            "\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\u{7f}\\u2028\\u2029é\""
        );
    }

    #[test]
    fn floats_match_go() {
        let v = json!([1.5, 1e21, 0.0000001, 0.000001, -2.0e-10, 3]);
        assert_eq!(
            to_go_json(&v, false).unwrap(),
            "[1.5,1e+21,1e-7,0.000001,-2e-10,3]"
        );
    }

    #[test]
    fn indented_like_marshal_indent() {
        let v = json!({"Id": "sha256:abc", "RepoTags": ["a:1", "b:2"], "Empty": [], "Obj": {}, "Cfg": {"Env": null}});
        assert_eq!(
            to_go_json_indent(&v, true, "    ").unwrap(),
            "{\n    \"Id\": \"sha256:abc\",\n    \"RepoTags\": [\n        \"a:1\",\n        \"b:2\"\n    ],\n    \"Empty\": [],\n    \"Obj\": {},\n    \"Cfg\": {\n        \"Env\": null\n    }\n}"
        );
    }

    #[test]
    fn structs_keep_field_order() {
        #[derive(Serialize)]
        struct S {
            #[serde(rename = "Zed")]
            zed: u8,
            #[serde(rename = "Alpha")]
            alpha: &'static str,
        }
        assert_eq!(
            to_go_json(&S { zed: 1, alpha: "x" }, true).unwrap(),
            r#"{"Zed":1,"Alpha":"x"}"#
        );
    }
}
