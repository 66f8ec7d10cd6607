//! Byte budgets: `24GiB`, `512MB`, `0`, or a share of physical memory such as `80%`.

use std::fmt;
use std::str::FromStr;

use modelcache_core::format_bytes;

/// The environment variable that overrides any configured budget.
pub const BUDGET_ENV: &str = "MODELCACHE_BUDGET";

/// A byte budget as written in configuration, before it is resolved against the machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// A fixed number of bytes (`0` retains nothing: every request loads).
    Bytes(u64),
    /// A share of physical memory, in percent (0 < p <= 100).
    Percent(f64),
}

/// A budget or size string that could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {reason}")]
#[non_exhaustive]
pub struct BudgetError {
    /// What was being parsed: `"budget"` or `"size"`.
    pub kind: &'static str,
    /// The text given.
    pub input: String,
    /// Why it is invalid: negative, too large, an unknown unit (named), ...
    pub reason: String,
}

impl BudgetError {
    fn budget(input: &str, reason: impl Into<String>) -> Self {
        Self {
            kind: "budget",
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

impl Budget {
    /// Resolves to bytes, reading physical memory for a percentage.
    ///
    /// # Errors
    /// When physical memory cannot be determined on this system.
    pub fn resolve(self) -> Result<u64, BudgetError> {
        match self {
            Budget::Bytes(b) => Ok(b),
            Budget::Percent(p) => {
                let total = physical_memory().ok_or_else(|| {
                    BudgetError::budget(
                        &format!("{p}%"),
                        "physical memory size is unknown on this system; give bytes instead",
                    )
                })?;
                Ok(percent_of(total, p))
            }
        }
    }

    /// Reads [`BUDGET_ENV`] if set.
    ///
    /// # Errors
    /// When the variable is set but does not parse.
    pub fn from_env() -> Result<Option<Budget>, BudgetError> {
        match std::env::var(BUDGET_ENV) {
            Ok(v) => v.parse().map(Some).map_err(|e: BudgetError| BudgetError {
                reason: format!("{} (from {BUDGET_ENV})", e.reason),
                ..e
            }),
            Err(_) => Ok(None),
        }
    }

    /// The environment override if set, else `configured`.
    ///
    /// # Errors
    /// When the environment variable is set but does not parse.
    pub fn or_env(configured: Budget) -> Result<Budget, BudgetError> {
        Ok(Self::from_env()?.unwrap_or(configured))
    }
}

fn percent_of(total: u64, p: f64) -> u64 {
    // Precision loss is irrelevant at byte granularity for any real memory size.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let bytes = (total as f64 * p / 100.0) as u64;
    bytes
}

impl FromStr for Budget {
    type Err = BudgetError;

    /// Bytes with an optional unit (`24GiB`, `512MB`, `1.5 GiB`, `0`) or a share of physical
    /// memory (`80%`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| BudgetError::budget(s, "not a number before %"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(BudgetError::budget(
                    s,
                    "a percentage must be above 0 and at most 100",
                ));
            }
            return Ok(Budget::Percent(p));
        }
        bytes(t, "or a share such as 80%")
            .map(Budget::Bytes)
            .map_err(|reason| BudgetError::budget(s, reason))
    }
}

/// Parses a byte size: a number with an optional unit (`12GiB`, `512MB`, `1.5 GiB`, `0`); not a
/// share of memory (a model's size is not a share of the machine).
///
/// # Errors
/// Saying why: empty, negative, too large for 64 bits, no number, not a number, an unknown
/// unit (named, with the units there are), or a percentage.
pub fn parse_size(s: &str) -> Result<u64, BudgetError> {
    let error = |reason: String| BudgetError {
        kind: "size",
        input: s.to_owned(),
        reason,
    };
    let t = s.trim();
    if t.ends_with('%') {
        return Err(error(
            "a size is bytes (e.g. \"12GiB\"), not a share of memory".to_owned(),
        ));
    }
    bytes(t, "").map_err(error)
}

/// The units [`parse_size`] and budgets take, for messages.
const UNITS: &str = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB";

/// Bytes of `t` (trimmed), or why not; `more` lists other accepted forms for messages.
fn bytes(t: &str, more: &str) -> Result<u64, String> {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(", {more}")
    };
    if t.is_empty() {
        return Err(format!("empty; expected e.g. 24GiB, 512MB or 0{more}"));
    }
    if t.starts_with('-') {
        return Err("a size cannot be negative".to_owned());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ if num.is_empty() => {
            return Err(format!("no number; expected e.g. 24GiB, 512MB or 0{more}"));
        }
        _ => return Err(format!("unknown unit {unit:?}; use {UNITS}{more}")),
    };
    if num.is_empty() {
        return Err(format!("no number before {unit:?}"));
    }
    let too_large = || format!("too large: the most is {} bytes (16 EiB)", u64::MAX);
    if num.contains('.') {
        let v: f64 = num.parse().map_err(|_| "not a number".to_owned())?;
        #[allow(clippy::cast_precision_loss)]
        let bytes = v * mult as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(too_large());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(bytes.round() as u64);
    }
    // `num` is digits only, so the only way it does not parse is overflow.
    let v: u64 = num.parse().map_err(|_| too_large())?;
    v.checked_mul(mult).ok_or_else(too_large)
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Bytes(b) => f.write_str(&format_bytes(*b)),
            Budget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Physical memory available to this process: the machine's total, lowered by a cgroup limit
/// on Linux; `sysctl hw.memsize` on macOS.
pub fn physical_memory() -> Option<u64> {
    if cfg!(target_os = "macos") {
        let out = std::process::Command::new("sysctl")
            .args(["-n", "hw.memsize"])
            .output()
            .ok()?;
        return String::from_utf8(out.stdout).ok()?.trim().parse().ok();
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())?
        .checked_mul(1024)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("24GiB".parse(), Ok(Budget::Bytes(24 << 30)));
        assert_eq!("512MB".parse(), Ok(Budget::Bytes(512_000_000)));
        assert_eq!("0".parse(), Ok(Budget::Bytes(0)));
        assert_eq!("1.5 GiB".parse(), Ok(Budget::Bytes(3 << 29)));
        assert_eq!("80%".parse(), Ok(Budget::Percent(80.0)));
        assert_eq!("100 kib".parse(), Ok(Budget::Bytes(102_400)));
    }

    #[test]
    fn rejects_nonsense_with_reason() {
        for bad in [
            "",
            "GiB",
            "12 parsecs",
            "-5MB",
            "0%",
            "150%",
            "99999999999999999999TiB",
            "x%",
        ] {
            let e = bad.parse::<Budget>().unwrap_err();
            assert_eq!(e.input, bad);
            assert!(!e.reason.is_empty());
        }
    }

    #[test]
    fn each_mistake_gets_its_own_reason() {
        let reason = |text: &str| text.parse::<Budget>().unwrap_err().reason;
        assert_eq!(reason("-5GiB"), "a size cannot be negative");
        assert_eq!(reason("-5"), "a size cannot be negative");
        assert!(reason("99999999999999999999GiB").starts_with("too large"));
        assert!(reason("99999999999999999999").starts_with("too large"));
        assert!(reason("20000000TiB").starts_with("too large"));
        assert!(reason("1e30GiB").starts_with("unknown unit \"e30GiB\""));
        assert!(reason("12 parsecs").starts_with("unknown unit \"parsecs\"; use B, KB"));
        assert!(reason("12 parsecs").ends_with("or a share such as 80%"));
        assert!(reason("GiB").starts_with("no number"));
        assert_eq!(reason("1.2.3GiB"), "not a number");
        let size = |text: &str| parse_size(text).unwrap_err().to_string();
        assert_eq!(
            size("12 parsecs"),
            "invalid size \"12 parsecs\": unknown unit \"parsecs\"; \
             use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
        );
        assert!(
            size("50%").contains("not a share of memory"),
            "{}",
            size("50%")
        );
        assert_eq!(parse_size(" 2 KiB "), Ok(2048));
    }

    #[test]
    fn percent_resolves_against_physical_memory() {
        let total = physical_memory().unwrap();
        let half = Budget::Percent(50.0).resolve().unwrap();
        assert!(half <= total / 2 + 1 && half + 1 >= total / 2);
    }
}
