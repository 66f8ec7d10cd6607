//! [`Fields`]: typed reads of the fields of a JSON config object, with errors that name the
//! field by its dotted path (`plbert.hidden_size`).
//!
//! serde's derive says "invalid value: integer `-1`, expected u64" without the field; these
//! say "`num_layers` is -1; expected a non-negative integer". JSON `null` counts as absent, as
//! Python writes unset values.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why a field could not be read: where the object came from, the field's dotted path, and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct FieldError {
    origin: String,
    field: String,
    kind: FieldErrorKind,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldErrorKind {
    /// The object itself (field `""`) or a sub-object is some other JSON value.
    NotObject {
        /// The value, as compact JSON cut to a readable length.
        found: String,
    },
    /// A required field is absent or `null`.
    Missing,
    /// A required sub-object is absent.
    NoEntry,
    /// The value is not of the expected kind.
    WrongType {
        /// The value, as compact JSON cut to a readable length.
        found: String,
        /// What was expected, in words.
        expected: String,
    },
    /// serde could not turn the value into the expected type.
    Invalid {
        /// The value, as compact JSON cut to a readable length.
        found: String,
        /// What serde said.
        reason: String,
    },
}

impl FieldError {
    /// The field's dotted path (`""` for the object itself).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong.
    pub fn kind(&self) -> &FieldErrorKind {
        &self.kind
    }

    fn message(&self) -> String {
        let (origin, field) = (&self.origin, &self.field);
        match &self.kind {
            FieldErrorKind::NotObject { found } if field.is_empty() => {
                format!("{origin} is {found}, not a JSON object")
            }
            FieldErrorKind::NotObject { .. } => format!("{origin}: `{field}` is not a JSON object"),
            FieldErrorKind::Missing => format!("{origin}: missing field `{field}`"),
            FieldErrorKind::NoEntry => format!("{origin} has no `{field}` entry"),
            FieldErrorKind::WrongType { found, expected } => {
                format!("{origin}: `{field}` is {found}; expected {expected}")
            }
            FieldErrorKind::Invalid { found, reason } => {
                format!("{origin}: `{field}`: {reason} (found {found})")
            }
        }
    }
}

/// The message, for code that reports reasons as strings.
impl From<FieldError> for String {
    fn from(e: FieldError) -> Self {
        e.to_string()
    }
}

/// The fields of one JSON object; `origin` (where it came from: a file, a metadata entry)
/// starts every message.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    origin: &'a str,
    /// The dotted path of this object in its document, `""` at the root, `"plbert."` below.
    prefix: String,
}

impl<'a> Fields<'a> {
    /// The fields of `value`, which must be a JSON object.
    ///
    /// # Errors
    /// [`FieldErrorKind::NotObject`] for any other value.
    pub fn new(value: &'a Value, origin: &'a str) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                origin,
                prefix: String::new(),
            }),
            other => Err(FieldError {
                origin: origin.to_owned(),
                field: String::new(),
                kind: FieldErrorKind::NotObject {
                    found: brief(other),
                },
            }),
        }
    }

    fn error(&self, name: &str, kind: FieldErrorKind) -> FieldError {
        FieldError {
            origin: self.origin.to_owned(),
            field: format!("{}{name}", self.prefix),
            kind,
        }
    }

    fn missing(&self, name: &str) -> FieldError {
        self.error(name, FieldErrorKind::Missing)
    }

    fn bad(&self, name: &str, value: &Value, expected: &str) -> FieldError {
        let kind = FieldErrorKind::WrongType {
            found: brief(value),
            expected: expected.to_owned(),
        };
        self.error(name, kind)
    }

    /// The field's value, `None` when absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// Whether the field is present (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The required sub-object `name`; its fields' errors carry `name.` in their path.
    ///
    /// # Errors
    /// [`FieldErrorKind::NoEntry`] when absent, [`FieldErrorKind::NotObject`] when it is
    /// another value.
    pub fn object(&self, name: &str) -> Result<Fields<'a>, FieldError> {
        match self.map.get(name) {
            Some(Value::Object(map)) => Ok(Fields {
                map,
                origin: self.origin,
                prefix: format!("{}{name}.", self.prefix),
            }),
            None => Err(self.error(name, FieldErrorKind::NoEntry)),
            Some(other) => Err(self.error(
                name,
                FieldErrorKind::NotObject {
                    found: brief(other),
                },
            )),
        }
    }

    /// The required field `name` as any type serde can read.
    ///
    /// # Errors
    /// [`FieldErrorKind::Missing`], or [`FieldErrorKind::Invalid`] with serde's reason.
    pub fn req<T: DeserializeOwned>(&self, name: &str) -> Result<T, FieldError> {
        self.opt(name)?.ok_or_else(|| self.missing(name))
    }

    /// The optional field `name` as any type serde can read (absent or `null` is `None`).
    ///
    /// # Errors
    /// [`FieldErrorKind::Invalid`] with serde's reason.
    pub fn opt<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, FieldError> {
        self.get(name)
            .map(|v| {
                T::deserialize(v).map_err(|e| {
                    let kind = FieldErrorKind::Invalid {
                        found: brief(v),
                        reason: e.to_string(),
                    };
                    self.error(name, kind)
                })
            })
            .transpose()
    }

    /// A required non-negative integer.
    ///
    /// # Errors
    /// [`FieldErrorKind::Missing`] or [`FieldErrorKind::WrongType`].
    pub fn u64(&self, name: &str) -> Result<u64, FieldError> {
        self.opt_u64(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional non-negative integer.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, FieldError> {
        self.get(name)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| self.bad(name, v, "a non-negative integer"))
            })
            .transpose()
    }

    /// An optional boolean, `default` when absent.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, FieldError> {
        self.get(name).map_or(Ok(default), |v| {
            v.as_bool()
                .ok_or_else(|| self.bad(name, v, "true or false"))
        })
    }

    /// An optional string.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        self.get(name)
            .map(|v| v.as_str().ok_or_else(|| self.bad(name, v, "a string")))
            .transpose()
    }

    /// An optional list of non-negative integers.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn opt_u64_list(&self, name: &str) -> Result<Option<Vec<u64>>, FieldError> {
        self.list(name, "a list of non-negative integers", Value::as_u64)
    }

    /// A required list of non-negative integers.
    ///
    /// # Errors
    /// [`FieldErrorKind::Missing`] or [`FieldErrorKind::WrongType`].
    pub fn u64_list(&self, name: &str) -> Result<Vec<u64>, FieldError> {
        self.opt_u64_list(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional list of booleans.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn opt_bool_list(&self, name: &str) -> Result<Option<Vec<bool>>, FieldError> {
        self.list(name, "a list of true/false", Value::as_bool)
    }

    /// A required list of booleans.
    ///
    /// # Errors
    /// [`FieldErrorKind::Missing`] or [`FieldErrorKind::WrongType`].
    pub fn bool_list(&self, name: &str) -> Result<Vec<bool>, FieldError> {
        self.opt_bool_list(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional list of strings.
    ///
    /// # Errors
    /// [`FieldErrorKind::WrongType`].
    pub fn opt_str_list(&self, name: &str) -> Result<Option<Vec<&'a str>>, FieldError> {
        self.list(name, "a list of strings", Value::as_str)
    }

    fn list<T>(
        &self,
        name: &str,
        expected: &str,
        item: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, FieldError> {
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
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_the_field() {
        let v = json!({"n": -1, "s": 3, "l": [1, "x"], "b": "yes", "z": null, "ok": [true]});
        let f = Fields::new(&v, "cfg").unwrap();
        assert_eq!(
            f.u64("n").unwrap_err().to_string(),
            "cfg: `n` is -1; expected a non-negative integer"
        );
        assert_eq!(
            f.u64("z").unwrap_err().to_string(),
            "cfg: missing field `z`"
        );
        assert_eq!(f.opt_u64("z"), Ok(None));
        assert!(f.opt_str("s").unwrap_err().to_string().contains("`s` is 3"));
        let e = f.u64_list("l").unwrap_err().to_string();
        assert!(e.contains("`l` is [1,\"x\"]"), "{e}");
        assert!(f.bool_or("b", true).is_err());
        assert_eq!(f.bool_or("absent", true), Ok(true));
        assert_eq!(f.bool_list("ok"), Ok(vec![true]));
        let long = json!("x".repeat(500));
        assert!(Fields::new(&long, "cfg").unwrap_err().to_string().len() < 120);
    }

    #[test]
    fn sub_objects_carry_the_dotted_path() {
        let v = json!({"a": 1, "b": {"c": "x"}, "d": []});
        let root = Fields::new(&v, "cfg").unwrap();
        assert_eq!(root.req::<u64>("a").unwrap(), 1);
        assert_eq!(root.opt::<u64>("zz").unwrap(), None);
        let e = root.req::<u64>("zz").unwrap_err();
        assert_eq!((e.field(), e.kind()), ("zz", &FieldErrorKind::Missing));
        let e = root.object("b").unwrap().req::<u64>("c").unwrap_err();
        assert_eq!(e.field(), "b.c");
        assert!(
            matches!(e.kind(), FieldErrorKind::Invalid { reason, found }
                if reason.contains("invalid type") && found == "\"x\""),
            "{e:?}"
        );
        let e = root.object("d").unwrap_err();
        assert_eq!(e.to_string(), "cfg: `d` is not a JSON object");
        assert_eq!(
            root.object("e").unwrap_err().to_string(),
            "cfg has no `e` entry"
        );
        assert!(Fields::new(&Value::Bool(true), "cfg").is_err());
        assert!(root.has("a") && !root.has("zz"));
    }
}
