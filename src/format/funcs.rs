//! Template functions: the docker CLI's `basicFunctions` and
//! `HeaderFunctions` (docker/cli templates/templates.go), replacements for
//! gtmpl builtins that print or measure values differently from Go, and the
//! helpers that [`super::rewrite`] inserts.
//!
//! gtmpl functions are plain `fn` pointers, so the header variants are
//! separate functions rather than closures.

use gtmpl::{Func, FuncError, Value};

use super::json;
use super::value::{
    as_str, go_print, go_sprint, go_truth, go_type_name, map_index, map_len, sorted_entries,
    to_json, GoValue, KeyOrder, NilKind,
};

/// Name of the function the rewriter appends to every printing action.
pub const PRINT_FN: &str = "__rimg_print";
/// Name of the function giving a range's values in Go's order.
pub const VALUES_FN: &str = "__rimg_values";
/// Name of the function giving a range's keys (or indices).
pub const KEYS_FN: &str = "__rimg_keys";
/// Name of the function the rewriter appends to `if` and `with` pipelines.
pub const TRUTH_FN: &str = "__rimg_truth";

/// Whether `v` is a nil slice, map or pointer of a typed document.
fn is_typed_nil(v: &Value) -> bool {
    matches!(GoValue::of(v), Some(GoValue::Nil(_)))
}

fn arg<'a>(name: &str, args: &'a [Value], i: usize, want: usize) -> Result<&'a Value, FuncError> {
    if args.len() != want {
        return Err(FuncError::Generic(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(&args[i])
}

fn wrong_type(want: &str, got: &Value) -> FuncError {
    FuncError::Generic(format!(
        "wrong type for value; expected {want}; got {}",
        go_type_name(got)
    ))
}

fn str_arg<'a>(name: &str, args: &'a [Value], i: usize, want: usize) -> Result<&'a str, FuncError> {
    match arg(name, args, i, want)? {
        Value::String(s) => Ok(s),
        other => Err(wrong_type("string", other)),
    }
}

fn int_arg(name: &str, args: &[Value], i: usize, want: usize) -> Result<i64, FuncError> {
    let v = arg(name, args, i, want)?;
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| wrong_type("int", v)),
        other => Err(wrong_type("int", other)),
    }
}

// ---- docker basicFunctions ----

/// `json`: compact JSON without HTML escaping (the CLI's encoder sets
/// `SetEscapeHTML(false)` and trims the trailing newline).
fn json_fn(args: &[Value]) -> Result<Value, FuncError> {
    json_escaping(args, false, KeyOrder::Kept)
}

/// `json` in a list row (`images`, `history`, `ps`, `system df`): the row
/// is a Go struct whose `MarshalJSON` calls `json.Marshal`, which escapes
/// `<`, `>` and `&` whatever the encoder around it says, so `{{json .}}`
/// prints `"\u003cnone\u003e"`, its keys sorted as a map's. The row's
/// fields are plain strings and numbers: a map can only be the row itself.
fn row_json_fn(args: &[Value]) -> Result<Value, FuncError> {
    let is_row = matches!(args.first(), Some(Value::Map(_)));
    json_escaping(args, is_row, KeyOrder::Sorted)
}

fn json_escaping(args: &[Value], escape_html: bool, order: KeyOrder) -> Result<Value, FuncError> {
    let v = arg("json", args, 0, 1)?;
    json::to_go_json(&to_json(v, order), escape_html)
        .map(Value::String)
        .map_err(|e| FuncError::Generic(e.to_string()))
}

/// `split`: `strings.Split`. An empty separator splits into characters.
fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg("split", args, 0, 2)?;
    let sep = str_arg("split", args, 1, 2)?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep).map(Value::from).collect()
    };
    Ok(Value::Array(parts))
}

/// `join`: `strings.Join`. Go requires a `[]string`; JSON arrays may hold
/// anything, so non-strings are joined in their `%v` form.
fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = str_arg("join", args, 1, 2)?;
    match &args[0] {
        nil if is_typed_nil(nil) => Ok(Value::String(String::new())),
        Value::Array(a) => Ok(Value::String(
            a.iter().map(go_sprint).collect::<Vec<_>>().join(sep),
        )),
        other => Err(wrong_type("[]string", other)),
    }
}

/// Go's `isSeparator` from `strings.Title`.
fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// `title`: the deprecated `strings.Title`: upper-case the first letter of
/// each word; words are separated by anything but letters, digits and `_`.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg("title", args, 0, 1)?;
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_title_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    Ok(Value::String(out))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(str_arg("lower", args, 0, 1)?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(str_arg("upper", args, 0, 1)?.to_uppercase()))
}

fn count(name: &str, n: i64) -> Result<usize, FuncError> {
    usize::try_from(n)
        .map_err(|_| FuncError::Generic(format!("error calling {name}: negative count")))
}

/// `pad`: surround a non-empty string with spaces.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg("pad", args, 0, 3)?;
    let prefix = count("pad", int_arg("pad", args, 1, 3)?)?;
    let suffix = count("pad", int_arg("pad", args, 2, 3)?)?;
    if s.is_empty() {
        return Ok(Value::String(String::new()));
    }
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(prefix),
        " ".repeat(suffix)
    )))
}

/// `truncate`: the first `n` bytes, as Go slices strings by bytes. A cut
/// inside a multi-byte character backs off to the character boundary
/// (Go would emit the partial bytes).
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg("truncate", args, 0, 2)?;
    let n = int_arg("truncate", args, 1, 2)?;
    let n = usize::try_from(n).map_err(|_| {
        FuncError::Generic(format!(
            "error calling truncate: slice bounds out of range [:{n}]"
        ))
    })?;
    if s.len() < n {
        return Ok(Value::String(s.to_owned()));
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_owned()))
}

// ---- Go builtins that gtmpl gets wrong for our values ----

/// `len`: gtmpl's refuses maps.
fn len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match arg("len", args, 0, 1)? {
        nil if is_typed_nil(nil) => 0,
        go if GoValue::of(go).is_some() => {
            return Err(FuncError::Generic(format!(
                "error calling len: len of type {}",
                go_type_name(go)
            )))
        }
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Map(m) => map_len(m),
        other => {
            return Err(FuncError::Generic(format!(
                "error calling len: len of type {}",
                go_type_name(other)
            )))
        }
    };
    Ok(Value::from(n))
}

/// `print`: `fmt.Sprint`, spaces between operands when neither is a
/// string, values in Go's `%v` form.
fn print(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in args.iter().enumerate() {
        let is_string = matches!(v, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&go_sprint(v));
        prev_string = is_string;
    }
    Ok(Value::String(out))
}

/// `println`: `fmt.Sprintln`, always space-separated, newline-terminated.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = args.iter().map(go_sprint).collect::<Vec<_>>().join(" ");
    out.push('\n');
    Ok(Value::String(out))
}

/// `printf`: gtmpl's implementation, with slices, maps and nil passed as
/// their `%v` strings (gtmpl would print Rust debug output or fail).
fn printf(args: &[Value]) -> Result<Value, FuncError> {
    let args: Vec<Value> = args
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Array(_) | Value::Map(_) | Value::Object(_) | Value::Nil | Value::NoValue
                if i > 0 =>
            {
                Value::String(go_sprint(v))
            }
            _ => v.clone(),
        })
        .collect();
    gtmpl::funcs::printf(&args)
}

/// `index`: Go's, with Go's messages (gtmpl's quote Rust debug output).
/// Missing map keys give no value, like Go's zero value of an interface.
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, keys)) = args.split_first() else {
        return Err(FuncError::Generic(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    };
    let err = |msg: String| FuncError::Generic(format!("error calling index: {msg}"));
    let mut item = first.clone();
    for key in keys {
        // Docker retries a template that fails on its typed struct (an
        // index out of a nil slice's range) on the plain JSON, where the
        // slice is an untyped nil.
        if matches!(
            GoValue::of(&item),
            Some(GoValue::Nil(NilKind::Slice | NilKind::Pointer))
        ) {
            return Err(err("index of untyped nil".into()));
        }
        if let Some(found) = as_str(key).and_then(|k| map_index(&item, k)) {
            item = found;
            continue;
        }
        item = match (&item, key) {
            (Value::Map(_), _) => {
                return Err(err(format!(
                    "value has type {}; should be string",
                    go_type_name(key)
                )))
            }
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_i64().ok_or_else(|| {
                    err(format!(
                        "cannot index slice/array with type {}",
                        go_type_name(key)
                    ))
                })?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i))
                    .cloned()
                    .ok_or_else(|| err(format!("index out of range: {i}")))?
            }
            (Value::Array(_), _) => {
                return Err(err(format!(
                    "cannot index slice/array with type {}",
                    go_type_name(key)
                )))
            }
            (Value::NoValue | Value::Nil, _) => return Err(err("index of untyped nil".into())),
            (other, _) => {
                return Err(err(format!(
                    "can't index item of type {}",
                    go_type_name(other)
                )))
            }
        };
    }
    Ok(item)
}

// ---- helpers inserted by the rewriter ----

/// Prints an action's result the way text/template does.
fn print_value(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_print(arg(PRINT_FN, args, 0, 1)?)))
}

fn range_error(v: &Value) -> FuncError {
    FuncError::Generic(format!("range can't iterate over {}", go_sprint(v)))
}

/// The values a `range` visits: array elements, or map values in key
/// order (gtmpl iterates a HashMap in random order). Nothing for nil.
fn range_values(args: &[Value]) -> Result<Value, FuncError> {
    match arg(VALUES_FN, args, 0, 1)? {
        nil if is_typed_nil(nil) => Ok(Value::Array(Vec::new())),
        go if GoValue::of(go).is_some() => Err(range_error(go)),
        Value::Array(a) => Ok(Value::Array(a.clone())),
        Value::Map(m) => Ok(Value::Array(
            sorted_entries(m)
                .into_iter()
                .map(|(_, v)| v.clone())
                .collect(),
        )),
        Value::NoValue | Value::Nil => Ok(Value::Array(Vec::new())),
        other => Err(range_error(other)),
    }
}

/// The keys a two-variable `range` binds: indices, or sorted map keys.
fn range_keys(args: &[Value]) -> Result<Value, FuncError> {
    match arg(KEYS_FN, args, 0, 1)? {
        nil if is_typed_nil(nil) => Ok(Value::Array(Vec::new())),
        go if GoValue::of(go).is_some() => Err(range_error(go)),
        Value::Array(a) => Ok(Value::Array((0..a.len()).map(Value::from).collect())),
        Value::Map(m) => Ok(Value::Array(
            sorted_entries(m)
                .into_iter()
                .map(|(k, _)| Value::String(k.clone()))
                .collect(),
        )),
        Value::NoValue | Value::Nil => Ok(Value::Array(Vec::new())),
        other => Err(range_error(other)),
    }
}

/// What `if` and `with` test: the value when Go holds it true, else nil
/// (gtmpl's own truth holds a nil slice of a typed document true).
fn truth(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(TRUTH_FN, args, 0, 1)?;
    Ok(if go_truth(v) { v.clone() } else { Value::Nil })
}

/// `and`: the first argument Go holds false, or the last.
fn and(args: &[Value]) -> Result<Value, FuncError> {
    first_or_last("and", args, |v| !go_truth(v))
}

/// `or`: the first argument Go holds true, or the last.
fn or(args: &[Value]) -> Result<Value, FuncError> {
    first_or_last("or", args, go_truth)
}

fn first_or_last(
    name: &str,
    args: &[Value],
    decides: fn(&Value) -> bool,
) -> Result<Value, FuncError> {
    args.iter()
        .find(|v| decides(v))
        .or(args.last())
        .cloned()
        .ok_or_else(|| FuncError::AtLeastXArgs(name.into(), 1))
}

/// `not`: Go's negated truth.
fn not(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(!go_truth(arg("not", args, 0, 1)?)))
}

/// Functions shared by row and header templates.
fn common() -> Vec<(&'static str, Func)> {
    vec![
        ("pad", pad as Func),
        ("len", len as Func),
        ("index", index as Func),
        ("print", print as Func),
        ("println", println as Func),
        ("printf", printf as Func),
        (PRINT_FN, print_value as Func),
        (VALUES_FN, range_values as Func),
        (KEYS_FN, range_keys as Func),
        (TRUTH_FN, truth as Func),
        ("and", and as Func),
        ("or", or as Func),
        ("not", not as Func),
    ]
}

/// Functions for rendering items (`inspect`).
pub fn item_functions() -> Vec<(&'static str, Func)> {
    with_json(json_fn)
}

/// Functions for rendering list rows.
pub fn row_functions() -> Vec<(&'static str, Func)> {
    with_json(row_json_fn)
}

fn with_json(json: Func) -> Vec<(&'static str, Func)> {
    let mut f = common();
    f.extend([
        ("json", json),
        ("split", split as Func),
        ("join", join as Func),
        ("title", title as Func),
        ("lower", lower as Func),
        ("upper", upper as Func),
        ("truncate", truncate as Func),
    ]);
    f
}

/// The CLI's `HeaderFunctions`: the header row is the row template run on
/// a map of column names, and these keep the names intact. `pad` is not
/// overridden, to keep alignment with the columns.
fn header_passthrough(args: &[Value]) -> Result<Value, FuncError> {
    match args.first() {
        Some(Value::String(s)) => Ok(Value::String(s.clone())),
        Some(other) => Err(wrong_type("string", other)),
        None => Err(FuncError::AtLeastXArgs("function".into(), 1)),
    }
}

/// Functions for rendering a table header.
pub fn header_functions() -> Vec<(&'static str, Func)> {
    let mut f = common();
    for name in [
        "json", "split", "join", "title", "lower", "upper", "truncate",
    ] {
        f.push((name, header_passthrough as Func));
    }
    f
}

/// For tests elsewhere in the module: run a function on JSON arguments.
#[cfg(test)]
pub fn call(name: &str, args: &[serde_json::Value]) -> Result<Value, FuncError> {
    let f = item_functions()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .ok_or_else(|| FuncError::Generic(format!("no function {name}")))?;
    let args: Vec<Value> = args.iter().map(super::value::from_json).collect();
    f(&args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(name: &str, args: &[serde_json::Value]) -> String {
        match call(name, args).unwrap() {
            Value::String(s) => s,
            other => go_sprint(&other),
        }
    }

    #[test]
    fn docker_functions() {
        // Keys as the data has them (Docker's struct order; the views
        // sort what Go would print as maps).
        assert_eq!(
            s("json", &[json!({"b": "<x>", "a": [1]})]),
            r#"{"b":"<x>","a":[1]}"#
        );
        assert_eq!(s("split", &[json!("a,b,c"), json!(",")]), "[a b c]");
        assert_eq!(s("split", &[json!("ab"), json!("")]), "[a b]");
        assert_eq!(s("join", &[json!(["a", "b"]), json!(", ")]), "a, b");
        assert_eq!(
            s("title", &[json!("hello wORLD foo_bar x-y")]),
            "Hello WORLD Foo_bar X-Y"
        );
        assert_eq!(s("lower", &[json!("AbC")]), "abc");
        assert_eq!(s("upper", &[json!("AbC")]), "ABC");
        assert_eq!(s("pad", &[json!("x"), json!(2), json!(1)]), "  x ");
        assert_eq!(s("pad", &[json!(""), json!(2), json!(1)]), "");
        assert_eq!(s("truncate", &[json!("abcdef"), json!(3)]), "abc");
        assert_eq!(s("truncate", &[json!("ab"), json!(3)]), "ab");
        assert_eq!(s("truncate", &[json!("héllo"), json!(2)]), "h");
    }

    #[test]
    fn split_of_empty_string_is_one_empty_element() {
        match call("split", &[json!(""), json!(",")]).unwrap() {
            Value::Array(a) => assert_eq!(a, vec![Value::from("")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn go_builtins() {
        assert_eq!(s("len", &[json!({"a": 1, "b": 2})]), "2");
        assert_eq!(s("len", &[json!("héllo")]), "6");
        assert_eq!(
            s("print", &[json!("a"), json!(1), json!(2), json!("b")]),
            "a1 2b"
        );
        assert_eq!(s("print", &[json!(["x", "y"])]), "[x y]");
        assert_eq!(s("println", &[json!("a"), json!(1)]), "a 1\n");
        assert_eq!(
            s(
                "printf",
                &[json!("%s|%v|%d"), json!(["x"]), json!({"k": 1}), json!(7)]
            ),
            "[x]|map[k:1]|7"
        );
    }

    #[test]
    fn type_errors_use_go_wording() {
        let err = call("upper", &[json!(1)]).unwrap_err().to_string();
        assert_eq!(err, "wrong type for value; expected string; got int");
        let err = call("split", &[json!("a")]).unwrap_err().to_string();
        assert_eq!(err, "wrong number of args for split: want 2 got 1");
        assert!(call("pad", &[json!("a"), json!(-1), json!(0)]).is_err());
        assert!(call("truncate", &[json!("a"), json!(-1)]).is_err());
    }

    #[test]
    fn index_like_go() {
        let m = json!({"a": [10, 20], "m": {"k": "v"}});
        assert_eq!(s("index", &[m.clone(), json!("a"), json!(1)]), "20");
        assert_eq!(s("index", &[m.clone(), json!("m"), json!("k")]), "v");
        assert_eq!(
            go_print(&call("index", &[m.clone(), json!("nope")]).unwrap()),
            "<no value>"
        );
        let e = |args: &[serde_json::Value]| call("index", args).unwrap_err().to_string();
        assert_eq!(
            e(&[m.clone(), json!("a"), json!(5)]),
            "error calling index: index out of range: 5"
        );
        assert_eq!(
            e(&[m.clone(), json!("x"), json!(0)]),
            "error calling index: index of untyped nil"
        );
        assert_eq!(
            e(&[json!("str"), json!(0)]),
            "error calling index: can't index item of type string"
        );
    }

    #[test]
    fn range_helpers_sort_maps() {
        assert_eq!(s(VALUES_FN, &[json!({"b": 2, "a": 1, "c": 3})]), "[1 2 3]");
        assert_eq!(s(KEYS_FN, &[json!({"b": 2, "a": 1})]), "[a b]");
        assert_eq!(s(KEYS_FN, &[json!(["x", "y"])]), "[0 1]");
        assert_eq!(s(VALUES_FN, &[json!(null)]), "[]");
        assert!(call(VALUES_FN, &[json!("str")]).is_err());
    }
}
