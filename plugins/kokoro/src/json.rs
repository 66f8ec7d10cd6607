//! Typed fields out of a JSON object, with the field's dotted path in every error.
//!
//! `serde_json` names a missing field but not the field whose value has the wrong type; reading
//! field by field from a [`Value`] gives both, without another dependency.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A JSON object and where it sits in its document (`""` for the root, `"plbert."` below).
#[derive(Debug)]
pub(crate) struct Object<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

/// Why a field could not be read: its dotted path and what is wrong.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl<'a> Object<'a> {
    /// The document root, which must be an object.
    pub(crate) fn root(value: &'a Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                prefix: String::new(),
            }),
            other => Err(FieldError {
                field: String::new(),
                reason: format!("expected a JSON object, found {}", kind(other)),
            }),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The required field `name`.
    pub(crate) fn req<T: DeserializeOwned>(&self, name: &str) -> Result<T, FieldError> {
        self.opt(name)?.ok_or_else(|| FieldError {
            field: self.path(name),
            reason: "missing".to_owned(),
        })
    }

    /// The optional field `name` (absent or `null` is `None`).
    pub(crate) fn opt<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, FieldError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| FieldError {
                field: self.path(name),
                reason: format!("{e} (found {v})", v = short(v)),
            }),
        }
    }

    /// The required sub-object `name`.
    pub(crate) fn object(&self, name: &str) -> Result<Object<'a>, FieldError> {
        let field = self.path(name);
        match self.map.get(name) {
            Some(Value::Object(map)) => Ok(Object {
                map,
                prefix: format!("{field}."),
            }),
            None => Err(FieldError {
                field,
                reason: "missing".to_owned(),
            }),
            Some(other) => Err(FieldError {
                field,
                reason: format!("expected an object, found {}", kind(other)),
            }),
        }
    }

    /// Whether the field `name` is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as JSON, cut to a readable length.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_carry_the_dotted_path() {
        let v: Value = serde_json::from_str(r#"{"a": 1, "b": {"c": "x"}, "d": []}"#).unwrap();
        let root = Object::root(&v).unwrap();
        assert_eq!(root.req::<u64>("a").unwrap(), 1);
        assert_eq!(root.opt::<u64>("zz").unwrap(), None);
        let e = root.req::<u64>("zz").unwrap_err();
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("zz", "missing"));
        let e = root.object("b").unwrap().req::<u64>("c").unwrap_err();
        assert_eq!(e.field, "b.c");
        assert!(
            e.reason.contains("invalid type") && e.reason.contains("\"x\""),
            "{}",
            e.reason
        );
        assert!(root.object("d").unwrap_err().reason.contains("an array"));
        assert!(Object::root(&Value::Bool(true)).is_err());
    }
}
