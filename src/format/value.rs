//! Conversions between `serde_json::Value` (what commands hand us) and
//! `gtmpl::Value` (what templates run on), and Go's way of printing values.
//!
//! The Go semantics we model are those of text/template running on JSON
//! decoded into `map[string]interface{}` (what `docker inspect` falls back
//! to): objects are maps, so a missing key is `<no value>` rather than an
//! error, and printing uses `fmt`'s `%v` (`[a b]`, `map[k:v]`, `<nil>`).
//!
//! Where Docker runs templates on a typed struct (`image inspect`), a null
//! slice prints `[]` and a null map `map[]`, not `<no value>`, and a time
//! is a `time.Time`. JSON loses those types, so the command names them
//! ([`GoType`]) and [`from_typed_json`] keeps them as [`GoValue`]s.

use std::collections::HashMap;

use gtmpl::Value;

use super::gonum;

/// Converts command data to a template value.
///
/// Objects become `Value::Map` (a missing key yields `Value::NoValue`, which
/// prints as `<no value>`, like a Go map); `Value::Object` would make
/// missing fields an error.
///
/// Numbers: integers stay integers (Go's typed structs print `63100000`,
/// not the `6.31e+07` of a raw float64). gtmpl's `From<f64>` truncates
/// negative fractions to integers and rounds tiny ones to zero, so floats
/// it cannot hold are passed as their Go `%v` string instead.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                float_value(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            let mut map: HashMap<_, _> = o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect();
            // Order only shows with two keys or more; an empty map stays
            // empty, hence false to `if`.
            if o.len() > 1 {
                let keys = o.keys().map(|k| Value::String(k.clone())).collect();
                map.insert(ORDER_KEY.to_string(), Value::Array(keys));
            }
            Value::Map(map)
        }
    }
}

/// The Go type of a field whose JSON does not tell it, for
/// [`from_typed_json`].
#[derive(Debug, Clone, Copy)]
pub enum GoType {
    /// A slice (`[]string`): null, or left out (`omitempty`), prints `[]`.
    Slice,
    /// A map: null, or left out, prints `map[]`.
    Map,
    /// A set (`map[K]struct{}`): a map whose values print as `{}`.
    Set,
    /// A pointer (`*HealthConfig`): null, or left out, prints `<nil>`.
    Pointer,
    /// A string: left out (`omitempty`), it is `""`.
    String,
    /// A bool: left out (`omitempty`), it is `false`.
    Bool,
    /// A `time.Time`, given in RFC 3339.
    Time,
    /// A struct: printed `{v1 v2 …}`, its fields' values in order.
    Struct(GoFields),
    /// A string, number or bool the JSON always holds: its type shows.
    Plain,
}

/// A struct's fields by name, every one in Go's order, with their Go types.
pub type GoFields = &'static [(&'static str, GoType)];

/// A Go value JSON cannot express, as templates see it. It travels as a
/// one-entry `Value::Map` under a key no template can name (and no JSON
/// document holds), so gtmpl hands it on untouched and a field of it is
/// no value, as a nil map's; [`GoValue::of`] reads it back. Every
/// function that prints, measures, iterates or tests values looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoValue<'a> {
    /// A nil slice, map or pointer: false, empty, `null` in JSON.
    Nil(NilKind),
    /// `struct{}{}`, a set's value: prints `{}`, true as every struct is.
    EmptyStruct,
    /// A `time.Time` (RFC 3339): prints as Go's `Time.String()`.
    Time(&'a str),
}

/// What a [`GoValue::Nil`] is nil of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NilKind {
    Slice,
    /// A `map[string]string`, whose missing keys index as `""`.
    Map,
    /// A `map[K]struct{}`, whose missing keys index as `{}`.
    Set,
    Pointer,
}

const NIL_SLICE_KEY: &str = "\0nil-slice";
const NIL_MAP_KEY: &str = "\0nil-map";
const NIL_SET_KEY: &str = "\0nil-set";
const NIL_POINTER_KEY: &str = "\0nil-pointer";
const EMPTY_STRUCT_KEY: &str = "\0struct{}";
const TIME_KEY: &str = "\0time";

impl GoValue<'_> {
    /// The Go value `v` holds, if it is one.
    pub fn of(v: &Value) -> Option<GoValue<'_>> {
        let Value::Map(m) = v else { return None };
        let (key, inner) = m.iter().next().filter(|_| m.len() == 1)?;
        match (key.as_str(), inner) {
            (NIL_SLICE_KEY, _) => Some(GoValue::Nil(NilKind::Slice)),
            (NIL_MAP_KEY, _) => Some(GoValue::Nil(NilKind::Map)),
            (NIL_SET_KEY, _) => Some(GoValue::Nil(NilKind::Set)),
            (NIL_POINTER_KEY, _) => Some(GoValue::Nil(NilKind::Pointer)),
            (EMPTY_STRUCT_KEY, _) => Some(GoValue::EmptyStruct),
            (TIME_KEY, Value::String(t)) => Some(GoValue::Time(t)),
            _ => None,
        }
    }

    /// The template value that holds it.
    fn value(&self) -> Value {
        let (key, inner) = match self {
            GoValue::Nil(NilKind::Slice) => (NIL_SLICE_KEY, Value::Nil),
            GoValue::Nil(NilKind::Map) => (NIL_MAP_KEY, Value::Nil),
            GoValue::Nil(NilKind::Set) => (NIL_SET_KEY, Value::Nil),
            GoValue::Nil(NilKind::Pointer) => (NIL_POINTER_KEY, Value::Nil),
            GoValue::EmptyStruct => (EMPTY_STRUCT_KEY, Value::Nil),
            GoValue::Time(t) => (TIME_KEY, Value::String((*t).to_owned())),
        };
        Value::Map(HashMap::from([(key.to_owned(), inner)]))
    }

    /// `fmt.Sprint` of it.
    fn go_string(&self) -> String {
        match self {
            GoValue::Nil(NilKind::Slice) => "[]".to_owned(),
            GoValue::Nil(NilKind::Map | NilKind::Set) => "map[]".to_owned(),
            GoValue::Nil(NilKind::Pointer) => "<nil>".to_owned(),
            GoValue::EmptyStruct => "{}".to_owned(),
            GoValue::Time(t) => go_time_string(t),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            GoValue::Nil(_) => serde_json::Value::Null,
            GoValue::EmptyStruct => serde_json::Value::Object(serde_json::Map::new()),
            GoValue::Time(t) => serde_json::Value::String((*t).to_owned()),
        }
    }
}

/// Go's `Time.String()` of an RFC 3339 time: `2026-12-06 12:21:00.371656749
/// +0000 UTC`, the fraction without trailing zeros. A time in UTC is in
/// Go's `UTC` zone; any other offset is a zone without a name, which Go
/// writes as the offset again. A time that does not parse is printed as
/// given.
fn go_time_string(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_owned();
    };
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = t.format("%z").to_string();
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC"
    } else {
        &offset
    };
    format!("{out} {offset} {zone}")
}

/// Converts a document whose fields have the Go types `fields` (where its
/// JSON loses them) to a template value: [`from_json`], with the null or
/// missing slices, maps and pointers, the sets' values and the times among
/// `fields` made [`GoValue`]s, and the structs marked. No `fields` means
/// plain JSON.
pub fn from_typed_json(v: &serde_json::Value, fields: GoFields) -> Value {
    let mut value = from_json(v);
    if !fields.is_empty() {
        apply_types(&mut value, fields);
    }
    value
}

fn apply_types(v: &mut Value, fields: GoFields) {
    let Value::Map(m) = v else { return };
    let mut omitted = Vec::new();
    for (name, ty) in fields {
        let zero = match ty {
            GoType::Slice => GoValue::Nil(NilKind::Slice).value(),
            GoType::Map => GoValue::Nil(NilKind::Map).value(),
            GoType::Set => GoValue::Nil(NilKind::Set).value(),
            GoType::Pointer => GoValue::Nil(NilKind::Pointer).value(),
            GoType::String => Value::String(String::new()),
            GoType::Bool => Value::Bool(false),
            GoType::Time | GoType::Struct(_) | GoType::Plain => Value::NoValue,
        };
        let Some(field) = m.get_mut(*name) else {
            // Left out of the JSON: an `omitempty` field at its zero value.
            if zero != Value::NoValue {
                m.insert((*name).to_owned(), zero);
                omitted.push(Value::String((*name).to_owned()));
            }
            continue;
        };
        match (ty, field) {
            (GoType::Slice | GoType::Map | GoType::Set | GoType::Pointer, field @ Value::Nil) => {
                *field = zero;
            }
            (GoType::Map, Value::Map(map)) => {
                map.insert(ELEM_ZERO_KEY.to_owned(), Value::String(String::new()));
            }
            (GoType::Set, Value::Map(set)) => {
                for item in set.values_mut() {
                    if matches!(item, Value::Map(members) if members.is_empty()) {
                        *item = GoValue::EmptyStruct.value();
                    }
                }
                set.insert(ELEM_ZERO_KEY.to_owned(), GoValue::EmptyStruct.value());
            }
            (GoType::Time, field @ Value::String(_)) => {
                if let Value::String(t) = field {
                    let t = std::mem::take(t);
                    *field = GoValue::Time(&t).value();
                }
            }
            (GoType::Struct(inner), field) => apply_types(field, inner),
            _ => {}
        }
    }
    if !omitted.is_empty() {
        m.insert(OMITTED_KEY.to_owned(), Value::Array(omitted));
    }
    let names = fields.iter().map(|(name, _)| Value::from(*name)).collect();
    m.insert(STRUCT_KEY.to_owned(), Value::Array(names));
}

/// Go's truth of a value, as `if`, `with`, `and`, `or` and `not` see it:
/// false for zero numbers, empty strings, slices and maps, nil; true for
/// every struct.
pub fn go_truth(v: &Value) -> bool {
    if let Some(go) = GoValue::of(v) {
        return !matches!(go, GoValue::Nil(_));
    }
    match v {
        Value::NoValue | Value::Nil => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Map(m) | Value::Object(m) => map_len(m) > 0,
        Value::Number(n) => {
            n.as_u64() != Some(0) && n.as_i64() != Some(0) && n.as_f64() != Some(0.0)
        }
        Value::Function(_) => true,
    }
}

/// A key no template can name, under which [`from_json`] keeps an object's
/// key order: gtmpl's maps are HashMaps, and `inspect`'s `{{json .Config}}`
/// prints a Go struct, whose fields keep their order. Every walk over a
/// map's entries ([`entries`]) leaves it out.
const ORDER_KEY: &str = "\0order";

/// A key no template can name, under which [`from_typed_json`] lists the
/// fields it gave the zero value Docker's JSON leaves out (`omitempty`),
/// for [`to_json`] to leave out again.
const OMITTED_KEY: &str = "\0omitted";

/// A key no template can name, under which [`from_typed_json`] marks a
/// struct: the names of its fields, in the order Go prints their values.
const STRUCT_KEY: &str = "\0struct";

/// A key no template can name, under which [`from_typed_json`] keeps
/// the zero value of a typed map's elements: what `index` gives for a key
/// it does not hold.
const ELEM_ZERO_KEY: &str = "\0zero";

/// `index` of a map (a typed nil map too) by `key`: its value, or for a
/// missing key the zero value of a typed map's elements (`""`), or no
/// value for a map from plain JSON. `None` if `v` is no map.
pub fn map_index(v: &Value, key: &str) -> Option<Value> {
    match (GoValue::of(v), v) {
        (Some(GoValue::Nil(NilKind::Map)), _) => Some(Value::String(String::new())),
        (Some(GoValue::Nil(NilKind::Set)), _) => Some(GoValue::EmptyStruct.value()),
        (None, Value::Map(m)) => Some(
            m.get(key)
                .filter(|_| !is_hidden(key))
                .or_else(|| m.get(ELEM_ZERO_KEY))
                .cloned()
                .unwrap_or(Value::NoValue),
        ),
        _ => None,
    }
}

/// Whether a map key is one of the hidden ones above.
fn is_hidden(key: &str) -> bool {
    key.starts_with('\0')
}

/// How [`to_json`] orders an object's keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyOrder {
    /// By key, as Go encodes a map (and a list row, which marshals itself
    /// through one).
    Sorted,
    /// As the command's data had them: Docker's struct field order.
    Kept,
}

/// Largest magnitude below which every whole f64 is an exact integer.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

fn float_value(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT_INT_LIMIT {
        // Whole numbers print without a fraction in Go's %v too (`1`).
        if f >= 0.0 {
            Value::from(f as u64)
        } else {
            Value::from(f as i64)
        }
    } else if f.is_finite() && f > 0.0 && f.fract() >= f64::EPSILON {
        // The range gtmpl keeps as a float.
        Value::from(f)
    } else {
        Value::String(gonum::format_v(f))
    }
}

/// Converts a template value back to JSON for the `json` function, its
/// objects' keys in `order`.
pub fn to_json(v: &Value, order: KeyOrder) -> serde_json::Value {
    if let Some(go) = GoValue::of(v) {
        return go.to_json();
    }
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(|item| to_json(item, order)).collect())
        }
        Value::Map(m) | Value::Object(m) => {
            let mut entries = sorted_entries(m);
            if let Some(Value::Array(omitted)) = m.get(OMITTED_KEY) {
                entries.retain(|(key, _)| {
                    !omitted
                        .iter()
                        .any(|o| matches!(o, Value::String(o) if o == *key))
                });
            }
            if let (KeyOrder::Kept, Some(Value::Array(kept))) = (order, m.get(ORDER_KEY)) {
                let position = |key: &String| {
                    kept.iter()
                        .position(|k| matches!(k, Value::String(k) if k == key))
                };
                entries.sort_by_key(|(key, _)| position(key));
            }
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v, order)))
                    .collect(),
            )
        }
    }
}

/// A map's entries, sorted by key: the order Go's fmt and `range` use.
pub fn sorted_entries(m: &HashMap<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().filter(|(k, _)| !is_hidden(k)).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The text of a string value.
pub fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// How many entries a map has, as templates see it.
pub fn map_len(m: &HashMap<String, Value>) -> usize {
    m.keys().filter(|k| !is_hidden(k)).count()
}

fn number_string(n: &gtmpl_value::Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        gonum::format_v(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// `fmt.Sprint(v)` for a value held in an `interface{}`: nil is `<nil>`,
/// slices are `[a b]`, maps are `map[k:v]` with sorted keys.
pub fn go_sprint(v: &Value) -> String {
    let mut s = String::new();
    write_go(&mut s, v);
    s
}

fn write_go(out: &mut String, v: &Value) {
    if let Some(go) = GoValue::of(v) {
        out.push_str(&go.go_string());
        return;
    }
    match v {
        Value::NoValue | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&number_string(n)),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(out, item);
            }
            out.push(']');
        }
        Value::Map(m) if m.contains_key(STRUCT_KEY) => {
            out.push('{');
            if let Some(Value::Array(names)) = m.get(STRUCT_KEY) {
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    if let Some(item) = as_str(name).and_then(|name| m.get(name)) {
                        write_go(out, item);
                    }
                }
            }
            out.push('}');
        }
        Value::Map(m) | Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, item)) in sorted_entries(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_go(out, item);
            }
            out.push(']');
        }
        // Go prints a func value's address; there is nothing better here.
        Value::Function(_) => out.push_str("<func>"),
    }
}

/// What text/template writes for the result of an action: like
/// [`go_sprint`], except that a missing value or JSON null at the top is
/// `<no value>` (an invalid `reflect.Value` after text/template unwraps the
/// empty interface).
pub fn go_print(v: &Value) -> String {
    match v {
        Value::NoValue | Value::Nil => "<no value>".to_owned(),
        _ => go_sprint(v),
    }
}

/// Go's name for the dynamic type of a JSON-decoded value, for error
/// messages such as "wrong type for value; expected string; got int".
pub fn go_type_name(v: &Value) -> &'static str {
    match GoValue::of(v) {
        Some(GoValue::Nil(NilKind::Slice)) => return "[]string",
        Some(GoValue::Nil(NilKind::Map)) => return "map[string]string",
        Some(GoValue::Nil(NilKind::Set)) => return "map[string]struct {}",
        Some(GoValue::Nil(NilKind::Pointer)) => return "pointer",
        Some(GoValue::EmptyStruct) => return "struct {}",
        Some(GoValue::Time(_)) => return "time.Time",
        None => {}
    }
    match v {
        Value::NoValue | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Number(n) if n.as_f64().is_some() => "float64",
        Value::Number(_) => "int",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::Object(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go_fmt() {
        let v = from_json(&json!({
            "Cmd": ["/bin/sh", "-c", "echo hi"],
            "Labels": {"b": "2", "a": "1"},
            "Nested": [[1, 2], {"k": null}],
            "Empty": [],
            "Bool": true,
            "Float": 1.5,
            "Big": 63100000,
            "Neg": -3,
        }));
        let Value::Map(m) = &v else {
            panic!("object must become a map")
        };
        assert_eq!(go_print(&m["Cmd"]), "[/bin/sh -c echo hi]");
        assert_eq!(go_print(&m["Labels"]), "map[a:1 b:2]");
        assert_eq!(go_print(&m["Nested"]), "[[1 2] map[k:<nil>]]");
        assert_eq!(go_print(&m["Empty"]), "[]");
        assert_eq!(go_print(&m["Bool"]), "true");
        assert_eq!(go_print(&m["Float"]), "1.5");
        assert_eq!(go_print(&m["Big"]), "63100000");
        assert_eq!(go_print(&m["Neg"]), "-3");
        assert_eq!(go_print(&Value::NoValue), "<no value>");
        assert_eq!(go_print(&Value::Nil), "<no value>");
        assert_eq!(go_sprint(&Value::Nil), "<nil>");
    }

    #[test]
    fn floats_gtmpl_cannot_hold_become_go_strings() {
        assert_eq!(go_print(&from_json(&json!(-1.5))), "-1.5");
        assert_eq!(go_print(&from_json(&json!(1e-20))), "1e-20");
        assert_eq!(go_print(&from_json(&json!(2.0))), "2");
        assert_eq!(go_print(&from_json(&json!(-2.0))), "-2");
        assert_eq!(go_print(&from_json(&json!(1e300))), "1e+300");
        assert_eq!(go_print(&from_json(&json!(0.25))), "0.25");
    }

    #[test]
    fn round_trips_to_json() {
        let j = json!({"a": [1, -2, 0.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(to_json(&from_json(&j), KeyOrder::Sorted), j);
        assert_eq!(
            to_json(&Value::NoValue, KeyOrder::Sorted),
            serde_json::Value::Null
        );
    }

    const CONFIG: GoFields = &[
        ("StopSignal", GoType::String),
        ("ArgsEscaped", GoType::Bool),
        ("Entrypoint", GoType::Slice),
        ("Shell", GoType::Slice),
        ("Labels", GoType::Map),
        ("Volumes", GoType::Set),
        ("Healthcheck", GoType::Pointer),
    ];
    const DOC: GoFields = &[
        ("Config", GoType::Struct(CONFIG)),
        ("LastTagTime", GoType::Time),
    ];

    fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(v, |v, key| match v {
            Value::Map(m) => &m[*key],
            other => panic!("no {key} in {other:?}"),
        })
    }

    #[test]
    fn typed_nil_slices_and_maps_print_as_go_but_stay_null_in_json() {
        let j = json!({"Config": {"Entrypoint": null, "Labels": null,
                                  "Volumes": {"/data": {}}, "Other": null},
                       "LastTagTime": "2026-12-06T12:21:00.371656749Z"});
        let v = from_typed_json(&j, DOC);
        let print = |path: &[&str]| go_print(field(&v, path));
        assert_eq!(print(&["Config", "Entrypoint"]), "[]");
        assert_eq!(print(&["Config", "Labels"]), "map[]");
        // Left out (`omitempty`): printed as Go's zero value too.
        assert_eq!(print(&["Config", "Shell"]), "[]");
        assert_eq!(print(&["Config", "Healthcheck"]), "<nil>");
        assert_eq!(print(&["Config", "Volumes"]), "map[/data:{}]");
        assert_eq!(print(&["Config", "StopSignal"]), "");
        assert_eq!(print(&["Config", "ArgsEscaped"]), "false");
        let Value::Map(config) = field(&v, &["Config"]) else {
            panic!("Config must be a map")
        };
        // Entrypoint Labels Volumes Other, and the four left out.
        assert_eq!(map_len(config), 8);
        // Untyped: JSON's null as before.
        assert_eq!(print(&["Config", "Other"]), "<no value>");
        assert_eq!(
            print(&["LastTagTime"]),
            "2026-12-06 12:21:00.371656749 +0000 UTC"
        );
        assert!(!go_truth(field(&v, &["Config", "Entrypoint"])));
        assert!(!go_truth(field(&v, &["Config", "Shell"])));
        assert!(go_truth(field(&v, &["Config", "Volumes"])));
        assert!(go_truth(field(&v, &["LastTagTime"])));
        // The JSON is the document's: nulls kept, left-out fields left out.
        assert_eq!(to_json(&v, KeyOrder::Kept), j);
    }

    #[test]
    fn times_print_as_go_time_string() {
        assert_eq!(
            go_time_string("0001-01-01T00:00:00Z"),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-12-06T14:57:26.40770163Z"),
            "2026-12-06 14:57:26.40770163 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-12-06T14:57:26.5+02:00"),
            "2026-12-06 14:57:26.5 +0200 +0200"
        );
        assert_eq!(go_time_string("yesterday"), "yesterday");
    }

    #[test]
    fn go_truth_of_plain_values() {
        for (j, truth) in [
            (json!(0), false),
            (json!(-1), true),
            (json!(0.0), false),
            (json!(""), false),
            (json!("x"), true),
            (json!([]), false),
            (json!({}), false),
            (json!({"a": 1}), true),
            (json!(null), false),
        ] {
            assert_eq!(go_truth(&from_json(&j)), truth, "{j}");
        }
    }

    #[test]
    fn key_order_is_kept_or_sorted_and_hidden_from_templates() {
        let j = json!({"b": 1, "a": {"z": 1, "y": 2}, "c": {}});
        let v = from_json(&j);
        let kept = serde_json::to_string(&to_json(&v, KeyOrder::Kept)).unwrap();
        assert_eq!(kept, r#"{"b":1,"a":{"z":1,"y":2},"c":{}}"#);
        let sorted = serde_json::to_string(&to_json(&v, KeyOrder::Sorted)).unwrap();
        assert_eq!(sorted, r#"{"a":{"y":2,"z":1},"b":1,"c":{}}"#);
        assert_eq!(go_print(&v), "map[a:map[y:2 z:1] b:1 c:map[]]");
        let Value::Map(m) = &v else {
            panic!("object must become a map")
        };
        assert_eq!(map_len(m), 3);
    }
}
