//! JSON files the way Python writes them: `json.dumps(obj, indent=2, sort_keys=True) + "\n"`.
//!
//! diffusers (`to_json_string`, shard indexes) and transformers (`config.json`, indexes) both write this form. Keys
//! are sorted here explicitly, so the output does not depend on whether some other crate in the build turns on
//! serde_json's `preserve_order`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// Serialises a [`Value`] with every object's keys in code-point order.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Sorted(v))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Sorted(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `value` as pretty JSON with sorted keys, two-space indent and a trailing newline.
pub(crate) fn pretty_sorted(value: &Value) -> String {
    // Writing a `Value` into a `Vec` cannot fail (no I/O, string keys only).
    let mut s = serde_json::to_string_pretty(&Sorted(value)).unwrap_or_default();
    s.push('\n');
    s
}

/// `value` as compact JSON with sorted keys (for strings embedded in safetensors metadata).
pub(crate) fn compact_sorted(value: &Value) -> String {
    // As above: infallible for a `Value`.
    serde_json::to_string(&Sorted(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_indent_2_sort_keys() {
        let v =
            serde_json::json!({"weight_map": {"b": "x", "a": "y"}, "metadata": {"total_size": 12}});
        assert_eq!(
            pretty_sorted(&v),
            "{\n  \"metadata\": {\n    \"total_size\": 12\n  },\n  \"weight_map\": {\n    \"a\": \"y\",\n    \"b\": \"x\"\n  }\n}\n"
        );
    }
}
