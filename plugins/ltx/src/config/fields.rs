//! Typed access to the fields of a config object, with messages that name the field.
//!
//! serde's derive would say "invalid value: integer `-1`, expected u64" without the field;
//! these say "`num_layers` is -1; expected a non-negative integer". JSON `null` counts as
//! absent, as Python writes unset values.

use serde_json::{Map, Value};

/// The fields of one config object; `origin` (where it came from) starts every message.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    origin: &'a str,
}

impl<'a> Fields<'a> {
    /// `value` must be a JSON object.
    pub(crate) fn new(value: &'a Value, origin: &'a str) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self { map, origin }),
            other => Err(format!("{origin} is {}, not a JSON object", brief(other))),
        }
    }

    /// The field's value, `None` when absent or `null`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> String {
        format!("{}: missing field `{name}`", self.origin)
    }

    fn bad(&self, name: &str, value: &Value, expected: &str) -> String {
        format!(
            "{}: `{name}` is {}; expected {expected}",
            self.origin,
            brief(value)
        )
    }

    /// A required non-negative integer.
    pub(crate) fn u64(&self, name: &str) -> Result<u64, String> {
        self.opt_u64(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional non-negative integer.
    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| self.bad(name, v, "a non-negative integer"))
            })
            .transpose()
    }

    /// An optional boolean, `default` when absent.
    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, String> {
        self.get(name).map_or(Ok(default), |v| {
            v.as_bool()
                .ok_or_else(|| self.bad(name, v, "true or false"))
        })
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, String> {
        self.get(name)
            .map(|v| v.as_str().ok_or_else(|| self.bad(name, v, "a string")))
            .transpose()
    }

    /// An optional list of non-negative integers.
    pub(crate) fn opt_u64_list(&self, name: &str) -> Result<Option<Vec<u64>>, String> {
        self.list(name, "a list of non-negative integers", Value::as_u64)
    }

    /// A required list of non-negative integers.
    pub(crate) fn u64_list(&self, name: &str) -> Result<Vec<u64>, String> {
        self.opt_u64_list(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional list of booleans.
    pub(crate) fn opt_bool_list(&self, name: &str) -> Result<Option<Vec<bool>>, String> {
        self.list(name, "a list of true/false", Value::as_bool)
    }

    /// A required list of booleans.
    pub(crate) fn bool_list(&self, name: &str) -> Result<Vec<bool>, String> {
        self.opt_bool_list(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional list of strings.
    pub(crate) fn opt_str_list(&self, name: &str) -> Result<Option<Vec<&'a str>>, String> {
        self.list(name, "a list of strings", Value::as_str)
    }

    fn list<T>(
        &self,
        name: &str,
        expected: &str,
        item: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, String> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        v.as_array()
            .and_then(|a| a.iter().map(&item).collect::<Option<Vec<T>>>())
            .map(Some)
            .ok_or_else(|| self.bad(name, v, expected))
    }
}

/// `value` as compact JSON, cut to a readable length.
fn brief(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_the_field() {
        let v = json!({"n": -1, "s": 3, "l": [1, "x"], "b": "yes", "z": null, "ok": [true]});
        let f = Fields::new(&v, "cfg").unwrap();
        assert_eq!(
            f.u64("n").unwrap_err(),
            "cfg: `n` is -1; expected a non-negative integer"
        );
        assert_eq!(f.u64("z").unwrap_err(), "cfg: missing field `z`");
        assert_eq!(f.opt_u64("z"), Ok(None));
        assert!(f.opt_str("s").unwrap_err().contains("`s` is 3"));
        assert!(f.u64_list("l").unwrap_err().contains("`l` is [1,\"x\"]"));
        assert!(f.bool_or("b", true).is_err());
        assert_eq!(f.bool_or("absent", true), Ok(true));
        assert_eq!(f.bool_list("ok"), Ok(vec![true]));
        let long = json!("x".repeat(500));
        assert!(Fields::new(&long, "cfg").unwrap_err().len() < 120);
    }
}
