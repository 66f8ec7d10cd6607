//! Durations as written in models.toml: `"2m"`, `"30m"`, `"0s"`; keep-alive also takes `"never"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// How long an idle, unpinned model stays loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Keep it until its room is needed (`"never"`, or no keep-alive at all).
    Never,
    /// Unload it once it has been idle this long (`"0s"` = as soon as it is idle).
    After(Duration),
}

impl KeepAlive {
    /// As the core's [`ModelPolicy::keep_alive`](modelcache_core::ModelPolicy::keep_alive).
    pub fn as_policy(self) -> Option<Duration> {
        match self {
            KeepAlive::Never => None,
            KeepAlive::After(d) => Some(d),
        }
    }
}

/// Parses a duration as models.toml and the command line write it: `"2m"`, `"1h 30m"`,
/// `"0s"`, `"200us"`.
///
/// # Errors
/// Saying why: empty, negative, too large, no unit, an unknown unit (named), or not a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let reason = if t.starts_with('-') {
        "a duration cannot be negative".to_owned()
    } else {
        match humantime::parse_duration(t) {
            Ok(d) => return Ok(d),
            Err(humantime::DurationError::Empty) => "empty".to_owned(),
            Err(humantime::DurationError::NumberOverflow) => {
                "too large (or finer than a nanosecond)".to_owned()
            }
            Err(humantime::DurationError::UnknownUnit { unit, value, .. }) if unit.is_empty() => {
                format!("no unit: write e.g. \"{value}s\" or \"{value}ms\"")
            }
            Err(humantime::DurationError::UnknownUnit { unit, .. }) => {
                format!("unknown unit {unit:?}; use ns, us, ms, s, m, h or d")
            }
            Err(_) => "not a duration".to_owned(),
        }
    };
    Err(format!(
        "invalid duration {text:?}: {reason} (write e.g. \"90s\", \"2m\", \"1h 30m\", \"0s\")"
    ))
}

/// A duration field; errors name the value and say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"2m\" or \"0s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(DurationValue).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for KeepAlive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeepAlive;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a keep-alive such as \"30m\", \"0s\" or \"never\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.trim().eq_ignore_ascii_case("never") {
                    return Ok(KeepAlive::Never);
                }
                parse_duration(v)
                    .map(KeepAlive::After)
                    .map_err(|e| E::custom(format!("{e}, or \"never\"")))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
    }

    #[test]
    fn each_mistake_gets_its_own_reason() {
        let reason = |text: &str| parse_duration(text).unwrap_err();
        let e = reason("2 fortnights");
        assert!(
            e.starts_with("invalid duration \"2 fortnights\": unknown unit \"fortnights\"; use ns"),
            "{e}"
        );
        assert!(reason("-5s").contains(": a duration cannot be negative"));
        assert!(reason("99999999999999999999s").contains(": too large"));
        assert!(reason("5").contains(": no unit: write e.g. \"5s\""));
        assert!(reason(" ").contains(": empty"));
        assert!(reason("5s!").contains(": not a duration"));
    }

    #[test]
    fn keep_alive_maps_to_the_policy() {
        assert_eq!(KeepAlive::Never.as_policy(), None);
        let d = Duration::from_secs(3);
        assert_eq!(KeepAlive::After(d).as_policy(), Some(d));
    }
}
