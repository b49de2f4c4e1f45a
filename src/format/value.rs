//! Conversions between `serde_json::Value` (what commands hand us) and
//! `gtmpl::Value` (what templates run on), and Go's way of printing values.
//!
//! The Go semantics we model are those of text/template running on JSON
//! decoded into `map[string]interface{}` (what `docker inspect` falls back
//! to): objects are maps, so a missing key is `<no value>` rather than an
//! error, and printing uses `fmt`'s `%v` (`[a b]`, `map[k:v]`, `<nil>`).

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

/// A key no template can name, under which [`from_json`] keeps an object's
/// key order: gtmpl's maps are HashMaps, and `inspect`'s `{{json .Config}}`
/// prints a Go struct, whose fields keep their order. Every walk over a
/// map's entries ([`entries`]) leaves it out.
const ORDER_KEY: &str = "\0order";

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
    let mut entries: Vec<_> = m.iter().filter(|(k, _)| *k != ORDER_KEY).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// How many entries a map has, as templates see it.
pub fn map_len(m: &HashMap<String, Value>) -> usize {
    m.len() - usize::from(m.contains_key(ORDER_KEY))
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
