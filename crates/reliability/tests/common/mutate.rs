//! Ways to damage a header or a JSON file, as proptest strategies: raw byte edits, and edits
//! of one JSON value that keep the file well-formed (so the case gets past the parser into the
//! validation behind it).

use proptest::prelude::*;
use serde_json::{Value, json};

/// One damage to a file's parsed part (a safetensors header with its length prefix, or a
/// JSON file).
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Set bytes at these positions (modulo the length).
    Bytes(Vec<(usize, u8)>),
    /// Keep only this many bytes (modulo the length + 1).
    Truncate(usize),
    /// Insert these bytes at this position (modulo the length + 1).
    Insert(usize, Vec<u8>),
    /// Replace the JSON value at slot `n` (modulo the number of values, in document order)
    /// with another; a safetensors header's length prefix is rewritten to match.
    Json(usize, Value),
    /// Remove the JSON object member at slot `n` (modulo the number of members).
    RemoveKey(usize),
}

impl Mutation {
    /// Applies the damage to `body`: a JSON file, or a safetensors header with its 8-byte
    /// length prefix when `prefixed`.
    pub fn apply(&self, body: &[u8], prefixed: bool) -> Vec<u8> {
        let mut out = body.to_vec();
        match self {
            Mutation::Bytes(edits) => {
                if !out.is_empty() {
                    let len = out.len();
                    for &(at, b) in edits {
                        out[at % len] = b;
                    }
                }
            }
            Mutation::Truncate(n) => out.truncate(n % (body.len() + 1)),
            Mutation::Insert(at, bytes) => {
                let at = at % (out.len() + 1);
                out.splice(at..at, bytes.iter().copied());
            }
            Mutation::Json(slot, value) => {
                return edit_json(body, prefixed, |v| replace_nth(v, *slot, value.clone()));
            }
            Mutation::RemoveKey(slot) => {
                return edit_json(body, prefixed, |v| remove_nth_key(v, *slot));
            }
        }
        out
    }
}

/// Parses the JSON part, edits it and writes it back (with a fresh length prefix); returns the
/// body unchanged when it is not JSON.
fn edit_json(body: &[u8], prefixed: bool, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let json = if prefixed {
        body.get(8..).unwrap_or_default()
    } else {
        body
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(json) else {
        return body.to_vec();
    };
    edit(&mut value);
    let text = value.to_string().into_bytes();
    if !prefixed {
        return text;
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out
}

/// Replaces the `n`-th value (pre-order, modulo the count) with `new`.
fn replace_nth(root: &mut Value, n: usize, new: Value) {
    let count = count_values(root);
    let mut target = n % count.max(1);
    visit(root, &mut target, new);
}

fn count_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count_values).sum(),
        Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

/// Walks `v` in pre-order; replaces the value reached when `left` hits zero. Returns whether
/// it replaced one.
fn visit(v: &mut Value, left: &mut usize, new: Value) -> bool {
    if *left == 0 {
        *v = new;
        return true;
    }
    *left -= 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(map) => map.values_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        if visit(child, left, new.clone()) {
            return true;
        }
    }
    false
}

/// Removes the `n`-th object member (pre-order, modulo the count).
fn remove_nth_key(root: &mut Value, n: usize) {
    fn keys(v: &Value) -> usize {
        match v {
            Value::Array(items) => items.iter().map(keys).sum(),
            Value::Object(map) => map.len() + map.values().map(keys).sum::<usize>(),
            _ => 0,
        }
    }
    fn remove(v: &mut Value, left: &mut usize) -> bool {
        match v {
            Value::Array(items) => items.iter_mut().any(|i| remove(i, left)),
            Value::Object(map) => {
                if *left < map.len() {
                    let key = map.keys().nth(*left).cloned();
                    if let Some(key) = key {
                        map.remove(&key);
                    }
                    return true;
                }
                *left -= map.len();
                map.values_mut().any(|c| remove(c, left))
            }
            _ => false,
        }
    }
    let count = keys(root);
    if count > 0 {
        let mut left = n % count;
        remove(root, &mut left);
    }
}

/// JSON values that break assumptions: boundaries of integer types, wrong types, dtype names,
/// shapes and offsets.
pub fn nasty_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(3)),
        Just(json!(4096)),
        Just(json!(1u64 << 31)),
        Just(json!(1u64 << 32)),
        Just(json!((1u64 << 53) + 1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!("")),
        Just(json!("F4")),
        Just(json!("BF16")),
        Just(json!("U32")),
        Just(json!("F8_E4M3")),
        Just(json!("C64")),
        Just(json!("XX")),
        Just(json!([])),
        Just(json!([0])),
        Just(json!([1, 1])),
        Just(json!([0, 0])),
        Just(json!([u64::MAX, 2])),
        Just(json!([1u64 << 32, 1u64 << 32])),
        Just(json!({})),
        Just(json!(null)),
        Just(json!(true)),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_./]{0,12}".prop_map(|s| json!(s)),
    ]
}

/// Any [`Mutation`], weighted towards the JSON edits that reach validation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => prop::collection::vec((any::<usize>(), any::<u8>()), 1..4).prop_map(Mutation::Bytes),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        5 => (any::<usize>(), nasty_value()).prop_map(|(n, v)| Mutation::Json(n, v)),
        1 => any::<usize>().prop_map(Mutation::RemoveKey),
    ]
}
