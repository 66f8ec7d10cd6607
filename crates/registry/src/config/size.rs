//! Byte sizes and budgets as written in models.toml: `"24GiB"`, `"512MB"`, `0`, `"80%"`.

use std::fmt;

use super::budget::Budget;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A budget field: bytes, or a share of physical memory (resolved when the cache is built).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BudgetValue(pub Budget);

/// A size field: bytes only (a model's size is not a share of the machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SizeValue(pub u64);

struct BudgetVisitor {
    percent_allowed: bool,
}

impl Visitor<'_> for BudgetVisitor {
    type Value = Budget;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.percent_allowed {
            f.write_str("a byte size such as \"24GiB\", \"512MB\" or 0, or a share such as \"80%\"")
        } else {
            f.write_str("a byte size such as \"12GiB\", \"512MB\" or 0")
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Budget, E> {
        Ok(Budget::Bytes(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Budget, E> {
        let kind = if self.percent_allowed {
            "budget"
        } else {
            "size"
        };
        u64::try_from(v)
            .map(Budget::Bytes)
            .map_err(|_| E::custom(format!("invalid {kind} {v}: a size cannot be negative")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Budget, E> {
        Err(E::custom(format!(
            "invalid size {v}: write a float with its unit, as a string (\"{v}GiB\")"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Budget, E> {
        if self.percent_allowed {
            v.parse().map_err(E::custom)
        } else {
            super::budget::parse_size(v)
                .map(Budget::Bytes)
                .map_err(E::custom)
        }
    }
}

impl<'de> Deserialize<'de> for BudgetValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BudgetVisitor {
            percent_allowed: true,
        })
        .map(BudgetValue)
    }
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(BudgetVisitor {
            percent_allowed: false,
        })? {
            Budget::Bytes(b) => Ok(SizeValue(b)),
            // Unreachable: the visitor refuses percentages; refuse again rather than guess.
            Budget::Percent(p) => Err(de::Error::custom(format!("invalid size {p}%"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct T {
        b: Option<BudgetValue>,
        s: Option<SizeValue>,
    }

    fn parse(text: &str) -> Result<T, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn budgets_take_bytes_units_and_shares() -> Result<(), String> {
        assert_eq!(
            parse("b = \"24GiB\"")?.b,
            Some(BudgetValue(Budget::Bytes(24 << 30)))
        );
        assert_eq!(parse("b = 0")?.b, Some(BudgetValue(Budget::Bytes(0))));
        assert_eq!(
            parse("b = \"80%\"")?.b,
            Some(BudgetValue(Budget::Percent(80.0)))
        );
        assert_eq!(parse("s = \"512MB\"")?.s, Some(SizeValue(512_000_000)));
        assert_eq!(parse("s = 1024")?.s, Some(SizeValue(1024)));
        Ok(())
    }

    #[test]
    fn bad_sizes_say_which_value_and_why() {
        let e = parse("s = \"12 parsecs\"").err().unwrap_or_default();
        assert!(
            e.starts_with("invalid size \"12 parsecs\": unknown unit"),
            "{e}"
        );
        assert!(!e.contains('%'), "{e}");
        let e = parse("s = \"50%\"").err().unwrap_or_default();
        assert!(e.contains("\"50%\"") && e.contains("not a share"), "{e}");
        let e = parse("s = -3").err().unwrap_or_default();
        assert!(e.contains("-3") && e.contains("negative"), "{e}");
        let e = parse("s = \"-5GiB\"").err().unwrap_or_default();
        assert!(e.ends_with("cannot be negative"), "{e}");
        let e = parse("b = \"99999999999999999999GiB\"")
            .err()
            .unwrap_or_default();
        assert!(e.contains("too large"), "{e}");
        let e = parse("b = \"12 parsecs\"").err().unwrap_or_default();
        assert!(
            e.contains("unknown unit \"parsecs\"") && e.contains('%'),
            "{e}"
        );
        let e = parse("b = true").err().unwrap_or_default();
        assert!(e.contains("byte size"), "{e}");
    }
}
