//! Docker's `--format` handling: `table …`, `json` and raw Go templates for
//! listings (`images`, `history`, `ps`), and per-item templates for
//! `inspect --format`.
//!
//! Templates run on gtmpl after the `rewrite` module adjusts them (it lists
//! gtmpl's differences from Go), with the CLI's template functions from
//! the `funcs` module. Item data are `serde_json::Value` objects such as
//! `{"ID": "5a214d77f5d7", "Repository": "ubuntu", …}`; objects behave as
//! Go maps, so `{{.Missing}}` prints `<no value>` where Docker, whose list
//! rows are Go structs, reports an unknown field as an error.

use std::io::{self, Write};

use gtmpl::{Context, Func, Value};
use serde::Serialize;

use super::funcs;
use super::json::{sort_keys, to_go_json, to_go_json_indent};
use super::rewrite::rewrite;
use super::table::write_aligned;
use super::value::{from_json, from_typed_json, GoFields};

/// The `--format` value that selects a command's default table.
pub const TABLE_KEY: &str = "table";
/// The `--format` value that prints one JSON object per line (docker 23+).
pub const JSON_KEY: &str = "json";

/// Errors from parsing or running a format template.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The template does not parse.
    #[error("template parsing error: {0}")]
    Parse(String),
    /// Running the template on an item failed. The docker CLI wraps these
    /// in the same "template parsing error" prefix as parse errors.
    #[error("template parsing error: {0}")]
    Execute(String),
    /// Several items failed; `inspect` renders the others and reports each
    /// failure on its own line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Multiple(Vec<FormatError>),
    /// An item could not be represented as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Removes the rewriter's additions from gtmpl's messages, which quote
/// pipelines.
fn strip_rewrites(msg: &str) -> String {
    msg.replace(&format!(" | {}", funcs::PRINT_FN), "")
        .replace(&format!(" | {}", funcs::TRUTH_FN), "")
}

/// An execution error in Go's wording: `template: <message>`. (Go also
/// names the position and the failing action; gtmpl does not track them.)
fn exec_message(msg: &str) -> String {
    format!("template: {}", strip_rewrites(msg))
}

/// A gtmpl parse error (`template: NAME:LINE:message`) in Go's layout
/// (`template: :1: message`). gtmpl's line count drifts with every action,
/// so a line is only given when the template has just one.
fn parse_message(msg: &str, src: &str) -> String {
    let msg = strip_rewrites(msg);
    let text = msg
        .strip_prefix("template: ")
        .and_then(|r| r.split_once(':'))
        .and_then(|(_name, r)| r.split_once(':'))
        .filter(|(line, _)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
        .map_or(msg.as_str(), |(_, text)| text);
    if src.contains('\n') {
        format!("template: {text}")
    } else {
        format!("template: :1: {text}")
    }
}

/// A parsed output format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `table <row template>`: aligned columns, with a header row made by
    /// running the row template on the column names.
    Table(String),
    /// Any other template: one rendered line per item, no header.
    Raw(String),
    /// `json`: each item as one line of JSON.
    Json,
}

impl Format {
    /// Interprets a `--format` value as the docker CLI does. An empty value
    /// or `table` selects `default_format`, the command's default (a full
    /// format string such as `"table {{.Repository}}\t{{.Tag}}"`).
    ///
    /// As in the CLI's formatter, a `table` prefix selects table output,
    /// spaces around the template are dropped, and the two-character
    /// sequences `\t` and `\n` (as typed in a shell) become a tab and a
    /// newline.
    pub fn parse(format: &str, default_format: &str) -> Format {
        if format.is_empty() || format == TABLE_KEY {
            Format::parse_explicit(default_format)
        } else {
            Format::parse_explicit(format)
        }
    }

    fn parse_explicit(format: &str) -> Format {
        if format == JSON_KEY {
            return Format::Json;
        }
        let (table, template) = match format.strip_prefix(TABLE_KEY) {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        let template = template
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        if table {
            Format::Table(template)
        } else {
            Format::Raw(template)
        }
    }

    /// Whether this is table output.
    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table(_))
    }
}

/// Parses `src` (after rewriting) with the given function set.
fn compile(src: &str, funcs: &[(&str, Func)]) -> Result<gtmpl::Template, FormatError> {
    let text = rewrite(src).map_err(|e| FormatError::Parse(e.to_string()))?;
    let mut t = gtmpl::Template::default();
    t.add_funcs(funcs);
    t.parse(text)
        .map_err(|e| FormatError::Parse(parse_message(&e.to_string(), src)))?;
    Ok(t)
}

/// A Go template for rendering one item at a time, e.g. `inspect --format`.
pub struct ItemTemplate {
    tmpl: gtmpl::Template,
}

impl ItemTemplate {
    /// Parses a template. Unlike list formats, the text is used as given
    /// (the CLI does not expand `\t` or trim spaces for `inspect`).
    pub fn parse(src: &str) -> Result<ItemTemplate, FormatError> {
        Ok(ItemTemplate {
            tmpl: compile(src, &funcs::item_functions())?,
        })
    }

    /// Parses a list's row template.
    fn parse_row(src: &str) -> Result<ItemTemplate, FormatError> {
        Ok(ItemTemplate {
            tmpl: compile(src, &funcs::row_functions())?,
        })
    }

    fn render_value(&self, data: Value) -> Result<String, FormatError> {
        let mut buf = Vec::new();
        self.tmpl
            .execute(&mut buf, &Context::from(data))
            .map_err(|e| FormatError::Execute(exec_message(&e.to_string())))?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Renders the template for one item.
    pub fn render(&self, item: &serde_json::Value) -> Result<String, FormatError> {
        self.render_value(from_json(item))
    }

    /// Renders the template for one item whose fields have the Go types
    /// `types` where its JSON loses them (nil slices print `[]`).
    pub fn render_typed(
        &self,
        item: &serde_json::Value,
        types: GoFields,
    ) -> Result<String, FormatError> {
        self.render_value(from_typed_json(item, types))
    }
}

/// How a [`ListFormatter`] writes.
enum Output {
    Json,
    Raw(ItemTemplate),
    Table {
        row: ItemTemplate,
        /// The row template compiled with the header functions.
        header: gtmpl::Template,
    },
}

/// Writes a listing (`images`, `history`, `ps`) in a [`Format`].
pub struct ListFormatter {
    output: Output,
}

impl ListFormatter {
    /// Compiles the templates of `format`.
    pub fn new(format: &Format) -> Result<ListFormatter, FormatError> {
        let output = match format {
            Format::Json => Output::Json,
            Format::Raw(src) => Output::Raw(ItemTemplate::parse_row(src)?),
            Format::Table(src) => Output::Table {
                row: ItemTemplate::parse_row(src)?,
                header: compile(src, &funcs::header_functions())?,
            },
        };
        Ok(ListFormatter { output })
    }

    /// Writes `items`. For tables, `header` maps field names to column
    /// titles (`{"Repository": "REPOSITORY", …}`) and the header row is the
    /// row template applied to it, so `table {{.Repository}}:{{.Tag}}`
    /// gets the header `REPOSITORY:TAG`.
    ///
    /// Every item is rendered before anything is written, so a failing
    /// item leaves no partial listing, as in Docker.
    pub fn write<W: Write>(
        &self,
        header: &serde_json::Value,
        items: &[serde_json::Value],
        out: &mut W,
    ) -> Result<(), FormatError> {
        match &self.output {
            Output::Json => {
                let mut text = String::new();
                for item in items {
                    // Docker's list rows marshal themselves with
                    // json.Marshal, which escapes <, > and &.
                    text.push_str(&to_go_json(&sort_keys(item), true)?);
                    text.push('\n');
                }
                out.write_all(text.as_bytes())?;
            }
            Output::Raw(row) => {
                let text = render_rows(row, items)?;
                out.write_all(text.as_bytes())?;
            }
            Output::Table { row, header: tmpl } => {
                let rows = render_rows(row, items)?;
                // The CLI ignores errors from the header template and keeps
                // whatever it wrote before failing.
                let mut text = Vec::new();
                let _ = tmpl.execute(&mut text, &Context::from(from_json(header)));
                text.push(b'\n');
                text.extend_from_slice(rows.as_bytes());
                write_aligned(&String::from_utf8_lossy(&text), out)?;
            }
        }
        Ok(())
    }
}

fn render_rows(row: &ItemTemplate, items: &[serde_json::Value]) -> Result<String, FormatError> {
    let mut text = String::new();
    for item in items {
        text.push_str(&row.render(item)?);
        text.push('\n');
    }
    Ok(text)
}

/// Parses `format` (see [`Format::parse`]) and writes `items` with it.
pub fn render_list<W: Write>(
    format: &str,
    default_format: &str,
    header: &serde_json::Value,
    items: &[serde_json::Value],
    out: &mut W,
) -> Result<(), FormatError> {
    ListFormatter::new(&Format::parse(format, default_format))?.write(header, items, out)
}

/// Runs `template` on each item, one output line per item, like the CLI's
/// template inspector: items that fail are skipped and their errors are
/// returned together after the others are written; if nothing was
/// rendered, a single empty line is written. `types` are the Go types of
/// the items' fields where JSON loses them (see [`GoType`]).
///
/// [`GoType`]: super::GoType
pub fn render_each<W: Write>(
    template: &str,
    items: &[serde_json::Value],
    types: GoFields,
    out: &mut W,
) -> Result<(), FormatError> {
    let tmpl = ItemTemplate::parse(template)?;
    let mut text = String::new();
    let mut errors = Vec::new();
    for item in items {
        match tmpl.render_typed(item, types) {
            Ok(s) => {
                text.push_str(&s);
                text.push('\n');
            }
            Err(e) => errors.push(e),
        }
    }
    if text.is_empty() {
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(FormatError::Multiple(errors)),
    }
}

/// `docker inspect [--format F]`: with no format, an indented JSON array
/// (4 spaces, as the CLI indents the daemon's JSON); with `json`, a compact
/// array; otherwise [`render_each`]. JSON output keeps struct field order
/// and leaves `<`, `>` and `&` as they are: the daemon's encoder turns
/// HTML escaping off, and the CLI only indents what it sends. `types` as
/// for [`render_each`].
pub fn render_inspect<T: Serialize, W: Write>(
    format: &str,
    items: &[T],
    types: GoFields,
    out: &mut W,
) -> Result<(), FormatError> {
    let text = match format {
        "" => to_go_json_indent(items, false, "    ")?,
        JSON_KEY => to_go_json(items, false)?,
        _ => {
            let values = items
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()?;
            return render_each(format, &values, types, out);
        }
    };
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGES_DEFAULT: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

    fn images_header() -> serde_json::Value {
        json!({
            "ID": "IMAGE ID",
            "Repository": "REPOSITORY",
            "Tag": "TAG",
            "Digest": "DIGEST",
            "CreatedSince": "CREATED",
            "CreatedAt": "CREATED AT",
            "Size": "SIZE",
        })
    }

    fn images() -> Vec<serde_json::Value> {
        vec![
            json!({"Repository": "ubuntu", "Tag": "18.04", "ID": "5a214d77f5d7",
                   "CreatedSince": "2 years ago", "Size": "63.1MB", "Digest": "<none>",
                   "RepoTags": ["ubuntu:18.04", "ubuntu:bionic"],
                   "Labels": {"z": "last", "a": "first", "m": "middle"}}),
            json!({"Repository": "<none>", "Tag": "<none>", "ID": "0123456789ab",
                   "CreatedSince": "", "Size": "1.2kB", "Digest": "<none>",
                   "RepoTags": [], "Labels": null}),
        ]
    }

    fn list(format: &str) -> Result<String, FormatError> {
        let mut out = Vec::new();
        render_list(
            format,
            IMAGES_DEFAULT,
            &images_header(),
            &images(),
            &mut out,
        )?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn each(template: &str, item: serde_json::Value) -> Result<String, FormatError> {
        let mut out = Vec::new();
        render_each(template, &[item], &[], &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn parses_formats_like_the_cli() {
        assert_eq!(
            Format::parse("", "table {{.A}}\\t{{.B}}"),
            Format::Table("{{.A}}\t{{.B}}".into())
        );
        assert_eq!(
            Format::parse("table", "table {{.A}}"),
            Format::Table("{{.A}}".into())
        );
        assert_eq!(Format::parse("json", "table {{.A}}"), Format::Json);
        assert_eq!(
            Format::parse("table {{.X}}", "table {{.A}}"),
            Format::Table("{{.X}}".into())
        );
        assert_eq!(
            Format::parse(" {{.ID}}\\n ", ""),
            Format::Raw("{{.ID}}\n".into())
        );
        assert_eq!(
            Format::parse("{{json .}}", ""),
            Format::Raw("{{json .}}".into())
        );
        assert!(Format::parse("tablefoo", "").is_table());
    }

    #[test]
    fn default_table() {
        assert_eq!(
            list("").unwrap(),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             ubuntu       18.04     5a214d77f5d7   2 years ago   63.1MB\n\
             <none>       <none>    0123456789ab   N/A           1.2kB\n"
        );
    }

    #[test]
    fn empty_table_still_has_a_header() {
        let mut out = Vec::new();
        render_list("", IMAGES_DEFAULT, &images_header(), &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
        );
    }

    #[test]
    fn custom_table_header_uses_the_same_template() {
        assert_eq!(
            list("table {{.Repository}}:{{.Tag}}\\t{{.ID}}").unwrap(),
            "REPOSITORY:TAG   IMAGE ID\n\
             ubuntu:18.04     5a214d77f5d7\n\
             <none>:<none>    0123456789ab\n"
        );
        // Header functions leave the column names alone; pad still pads.
        assert_eq!(
            list("table {{lower .Repository}}\\t{{pad .Tag 1 1}}|").unwrap(),
            "REPOSITORY    TAG |\n\
             ubuntu        18.04 |\n\
             <none>        <none> |\n"
        );
    }

    #[test]
    fn header_errors_keep_partial_output() {
        // `json .` in a header gets a map, not a string: the CLI's header
        // function fails and the header row is what was written before.
        assert_eq!(
            list("table {{.ID}}\\t{{json .}}").unwrap(),
            "IMAGE ID       \n\
             5a214d77f5d7   {\"CreatedSince\":\"2 years ago\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"5a214d77f5d7\",\"Labels\":{\"a\":\"first\",\"m\":\"middle\",\"z\":\"last\"},\"RepoTags\":[\"ubuntu:18.04\",\"ubuntu:bionic\"],\"Repository\":\"ubuntu\",\"Size\":\"63.1MB\",\"Tag\":\"18.04\"}\n\
             0123456789ab   {\"CreatedSince\":\"\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"0123456789ab\",\"Labels\":null,\"RepoTags\":[],\"Repository\":\"\\u003cnone\\u003e\",\"Size\":\"1.2kB\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
    }

    #[test]
    fn json_format_is_one_escaped_object_per_line() {
        let out = list("json").unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1]
            .starts_with(r#"{"CreatedSince":"","Digest":"\u003cnone\u003e","ID":"0123456789ab""#));
    }

    #[test]
    fn json_of_a_row_escapes_html_as_json_marshal_does_but_not_of_a_field() {
        // Docker 20.10: `images --format '{{json .}}'` prints
        // `"Digest":"\u003cnone\u003e"`; `{{json .Digest}}` prints `"<none>"`.
        let out = list("{{json .}} {{json .Digest}}").unwrap();
        let second = out.lines().nth(1).unwrap();
        assert!(
            second.contains(r#""Digest":"\u003cnone\u003e""#),
            "{second}"
        );
        assert!(second.ends_with(r#"} "<none>""#), "{second}");
    }

    #[test]
    fn raw_templates() {
        assert_eq!(list("{{.ID}}").unwrap(), "5a214d77f5d7\n0123456789ab\n");
        assert_eq!(
            list("{{.Repository}}\\t{{.Tag}}").unwrap(),
            "ubuntu\t18.04\n<none>\t<none>\n"
        );
        assert_eq!(
            list("{{json .RepoTags}}").unwrap(),
            "[\"ubuntu:18.04\",\"ubuntu:bionic\"]\n[]\n"
        );
    }

    #[test]
    fn values_print_like_go() {
        let item = json!({"Config": {"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": null,
                          "Labels": {"b": "2", "a": "1"}}, "Size": 63100000});
        assert_eq!(
            each("{{.Config.Cmd}}", item.clone()).unwrap(),
            "[/bin/sh -c echo hi]\n"
        );
        assert_eq!(
            each("{{.Config.Labels}}", item.clone()).unwrap(),
            "map[a:1 b:2]\n"
        );
        assert_eq!(
            each("{{.Config.Missing}}", item.clone()).unwrap(),
            "<no value>\n"
        );
        assert_eq!(
            each("{{.Config.Env}}", item.clone()).unwrap(),
            "<no value>\n"
        );
        assert_eq!(each("{{.Size}}", item.clone()).unwrap(), "63100000\n");
        assert_eq!(
            each("{{json .Config}}", item.clone()).unwrap(),
            "{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo hi\"],\"Env\":null,\"Labels\":{\"b\":\"2\",\"a\":\"1\"}}\n"
        );
        assert_eq!(
            each("{{index .Config.Cmd 2}}", item.clone()).unwrap(),
            "echo hi\n"
        );
        assert_eq!(
            each("{{index .Config.Labels \"b\"}}", item.clone()).unwrap(),
            "2\n"
        );
        assert_eq!(each("{{.Config.Labels.a}}", item.clone()).unwrap(), "1\n");
        assert_eq!(
            each("{{printf \"%s=%v\" \"cmd\" .Config.Cmd}}", item.clone()).unwrap(),
            "cmd=[/bin/sh -c echo hi]\n"
        );
        assert_eq!(
            each("{{len .Config.Labels}} {{len .Config.Cmd}}", item.clone()).unwrap(),
            "2 3\n"
        );
        assert_eq!(
            each("{{print .Config.Cmd}}", item).unwrap(),
            "[/bin/sh -c echo hi]\n"
        );
    }

    /// An imported image's config, as Docker types it: Docker 20.10
    /// prints each of these (`image inspect -f`).
    #[test]
    fn typed_nil_fields_behave_as_go_values() {
        use crate::format::GoType;
        const TYPES: GoFields = &[(
            "Config",
            GoType::Struct(&[
                ("Entrypoint", GoType::Slice),
                ("Labels", GoType::Map),
                ("Volumes", GoType::Set),
            ]),
        )];
        let docs = [
            json!({"Config": {"Entrypoint": null, "Labels": null, "Volumes": null}}),
            json!({"Config": {"Entrypoint": ["/bin/sh"], "Labels": {"a": "b"},
                              "Volumes": {"/data": {}}}}),
        ];
        let each = |template: &str| {
            let mut out = Vec::new();
            let result = render_each(template, &docs, TYPES, &mut out);
            (
                String::from_utf8(out).unwrap(),
                result.err().map(|e| e.to_string()),
            )
        };
        let ok = |template: &str| {
            let (out, err) = each(template);
            assert_eq!(err, None, "{template}");
            out
        };
        assert_eq!(
            ok("{{.Config.Entrypoint}}|{{.Config.Labels}}|{{.Config.Volumes}}"),
            "[]|map[]|map[]\n[/bin/sh]|map[a:b]|map[/data:{}]\n"
        );
        assert_eq!(
            ok("{{json .Config.Entrypoint}} {{json .Config.Volumes}} {{json .Config}}"),
            "null null {\"Entrypoint\":null,\"Labels\":null,\"Volumes\":null}\n\
             [\"/bin/sh\"] {\"/data\":{}} {\"Entrypoint\":[\"/bin/sh\"],\"Labels\":{\"a\":\"b\"},\"Volumes\":{\"/data\":{}}}\n"
        );
        assert_eq!(
            ok(
                "{{if .Config.Entrypoint}}y{{else}}n{{end}} {{len .Config.Entrypoint}} \
                {{len .Config.Volumes}} {{range .Config.Entrypoint}}x{{else}}none{{end}} \
                {{with .Config.Labels}}w{{else}}nw{{end}} {{and .Config.Entrypoint 1}} \
                {{or .Config.Entrypoint 1}} {{not .Config.Entrypoint}}"
            ),
            "n 0 0 none nw [] 1 true\ny 1 1 x w 1 [/bin/sh] false\n"
        );
        assert_eq!(
            ok("{{join .Config.Entrypoint \",\"}}|{{printf \"%v\" .Config.Entrypoint}}|\
                {{print .Config.Entrypoint}}|{{range $k, $v := .Config.Volumes}}{{$k}}={{$v}}{{end}}"),
            "|[]|[]|\n/bin/sh|[/bin/sh]|[/bin/sh]|/data={}\n"
        );
        // A missing key: a typed map's zero element, as Docker's index.
        assert_eq!(
            ok(
                "{{index .Config.Labels \"x\"}}|{{index .Config.Volumes \"/x\"}}|\
                {{index .Config.Labels \"a\"}}|{{.Config.Labels.x}}"
            ),
            "|{}||<no value>\n|{}|b|<no value>\n"
        );
        assert_eq!(
            each("{{index .Config.Entrypoint 0}}"),
            (
                "/bin/sh\n".to_string(),
                Some(
                    "template parsing error: template: error calling index: index of untyped nil"
                        .to_string()
                )
            )
        );
    }

    #[test]
    fn range_if_and_with() {
        let item = images()[0].clone();
        assert_eq!(
            each("{{range .RepoTags}}{{.}} {{end}}", item.clone()).unwrap(),
            "ubuntu:18.04 ubuntu:bionic \n"
        );
        // Maps range in key order, with keys bound.
        assert_eq!(
            each(
                "{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}",
                item.clone()
            )
            .unwrap(),
            "a=first,m=middle,z=last,\n"
        );
        assert_eq!(
            each(
                "{{range $i, $t := .RepoTags}}{{$i}}:{{$t}} {{end}}",
                item.clone()
            )
            .unwrap(),
            "0:ubuntu:18.04 1:ubuntu:bionic \n"
        );
        assert_eq!(
            each("{{range .Labels}}{{.}} {{end}}", item.clone()).unwrap(),
            "first middle last \n"
        );
        // Dot inside a two-variable range is the element; outer fields
        // are reached with $.
        assert_eq!(
            each(
                "{{range $k, $v := .Labels}}{{.}}/{{$.Tag}} {{end}}",
                item.clone()
            )
            .unwrap(),
            "first/18.04 middle/18.04 last/18.04 \n"
        );
        // else runs only when there is nothing to iterate.
        assert_eq!(
            each("{{range .RepoTags}}x{{else}}none{{end}}", item.clone()).unwrap(),
            "xx\n"
        );
        let dangling = images()[1].clone();
        assert_eq!(
            each("{{range .RepoTags}}x{{else}}none{{end}}", dangling.clone()).unwrap(),
            "none\n"
        );
        assert_eq!(
            each("{{range .Labels}}x{{else}}nil{{end}}", dangling.clone()).unwrap(),
            "nil\n"
        );
        assert_eq!(
            each(
                "{{range .RepoTags}}{{range $.RepoTags}}.{{end}}{{end}}",
                item.clone()
            )
            .unwrap(),
            "....\n"
        );
        assert_eq!(
            each("{{if .CreatedSince}}yes{{else}}no{{end}}", dangling).unwrap(),
            "no\n"
        );
        assert_eq!(
            each("{{with .Labels}}{{.a}}{{end}}", item.clone()).unwrap(),
            "first\n"
        );
        assert_eq!(
            each("x\n{{- range .RepoTags -}}\n  {{ . }},\n{{- end }}", item).unwrap(),
            "xubuntu:18.04,ubuntu:bionic,\n"
        );
    }

    #[test]
    fn comparisons_and_nested_templates() {
        let item = images()[0].clone();
        assert_eq!(
            each(
                "{{if eq .Tag \"18.04\"}}lts{{else if .Tag}}other{{end}}",
                item.clone()
            )
            .unwrap(),
            "lts\n"
        );
        assert_eq!(
            each(
                "{{if and .Tag (not .Missing)}}{{or .Missing .ID}}{{end}}",
                item.clone()
            )
            .unwrap(),
            "5a214d77f5d7\n"
        );
        assert_eq!(
            each("{{define \"tags\"}}{{range .}}[{{.}}]{{end}}{{end}}{{template \"tags\" .RepoTags}}", item.clone())
                .unwrap(),
            "[ubuntu:18.04][ubuntu:bionic]\n"
        );
        assert_eq!(
            each("{{block \"b\" .Labels}}{{.a}}{{end}}", item.clone()).unwrap(),
            "first\n"
        );
        assert_eq!(
            each(
                "{{$t := .Tag}}{{range .RepoTags}}{{$t}}{{end}}",
                item.clone()
            )
            .unwrap(),
            "18.0418.04\n"
        );
        assert_eq!(
            each("{{/* comment */}}{{len .RepoTags}}", item).unwrap(),
            "2\n"
        );
        let n = json!({"N": 1, "Neg": -2, "F": 2.5});
        assert_eq!(
            each(
                "{{eq .N 1}} {{lt .N 5}} {{gt .Neg -3}} {{ge .F 2.5}} {{ne .N 2}}",
                n
            )
            .unwrap(),
            "true true true true true\n"
        );
    }

    #[test]
    fn docker_functions_in_templates() {
        let item = images()[0].clone();
        assert_eq!(
            each("{{join .RepoTags \",\"}}", item.clone()).unwrap(),
            "ubuntu:18.04,ubuntu:bionic\n"
        );
        assert_eq!(
            each("{{upper .Repository}} {{title .Repository}}", item.clone()).unwrap(),
            "UBUNTU Ubuntu\n"
        );
        assert_eq!(
            each("{{split .Tag \".\"}}", item.clone()).unwrap(),
            "[18 04]\n"
        );
        assert_eq!(each("{{truncate .ID 4}}", item.clone()).unwrap(), "5a21\n");
        assert_eq!(
            each("{{.Repository | upper | printf \"<%s>\"}}", item.clone()).unwrap(),
            "<UBUNTU>\n"
        );
        assert_eq!(each("{{println .Tag}}", item).unwrap(), "18.04\n\n");
    }

    #[test]
    fn parse_errors() {
        let err = |t: &str| {
            let e = each(t, json!({})).unwrap_err();
            assert!(matches!(e, FormatError::Parse(_)), "{e:?}");
            e.to_string()
        };
        assert_eq!(
            err("{{.ID"),
            "template parsing error: template: :1: unclosed action"
        );
        assert_eq!(
            err("{{nosuchfunc .ID}}"),
            "template parsing error: template: :1: function nosuchfunc not defined"
        );
        assert_eq!(
            err("{{if .ID}}"),
            "template parsing error: template: :1: unexpected EOF"
        );
        assert_eq!(
            err("{{.A}}\n{{.B | nosuch}}"),
            "template parsing error: template: function nosuch not defined"
        );
        assert!(list("table {{if .ID}}").is_err());
        for t in ["{{if .A |}}{{end}}", "{{with (.A}}{{end}}"] {
            let e = err(t);
            assert!(!e.contains("__rimg"), "{e}");
        }
        for t in [
            "{{if upper .A}}{{end}}",
            "{{with index .A 1}}{{end}}",
            "{{if 1 2}}{{end}}",
        ] {
            let e = each(t, json!({"A": 1})).unwrap_err().to_string();
            assert!(!e.contains("__rimg"), "{e}");
        }
    }

    #[test]
    fn execution_errors() {
        let err = each("{{upper .Size}}", json!({"Size": 1})).unwrap_err();
        assert!(matches!(err, FormatError::Execute(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "template parsing error: template: wrong type for value; expected string; got int"
        );
        // A failing row means no output at all for listings.
        let mut out = Vec::new();
        let r = render_list(
            "{{upper .Size}}",
            "",
            &json!({}),
            &[json!({"Size": "1"}), json!({"Size": 2})],
            &mut out,
        );
        assert!(r.is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn inspect_like_the_cli() {
        let items = vec![
            json!({"Id": "sha256:a", "Tags": ["<x>"]}),
            json!({"Id": "sha256:b"}),
        ];
        let mut out = Vec::new();
        render_inspect("", &items, &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[\n    {\n        \"Id\": \"sha256:a\",\n        \"Tags\": [\n            \"<x>\"\n        ]\n    },\n    {\n        \"Id\": \"sha256:b\"\n    }\n]\n"
        );
        let mut out = Vec::new();
        render_inspect("json", &items, &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[{\"Id\":\"sha256:a\",\"Tags\":[\"<x>\"]},{\"Id\":\"sha256:b\"}]\n"
        );
        let mut out = Vec::new();
        render_inspect("{{.Id}}", &items, &[], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "sha256:a\nsha256:b\n");
        let mut out = Vec::new();
        render_inspect::<serde_json::Value, _>("", &[], &[], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
    }

    #[test]
    fn inspect_reports_failures_after_writing_the_rest() {
        let items = vec![json!({"A": "x"}), json!({"A": 1}), json!({"A": 2})];
        let mut out = Vec::new();
        let err = render_each("{{upper .A}}", &items, &[], &mut out).unwrap_err();
        assert_eq!(String::from_utf8(out).unwrap(), "X\n");
        assert!(matches!(&err, FormatError::Multiple(v) if v.len() == 2));
        assert_eq!(err.to_string().lines().count(), 2);
        let mut out = Vec::new();
        assert!(render_each("{{upper .A}}", &items[1..2], &[], &mut out).is_err());
        assert_eq!(String::from_utf8(out).unwrap(), "\n");
    }
}
