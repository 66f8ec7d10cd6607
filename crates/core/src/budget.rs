//! Byte budgets: `24GiB`, `512MB`, `0`, or a share of physical memory such as `80%`.

use std::fmt;
use std::str::FromStr;

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

/// A budget string that could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid budget {input:?}: {reason}")]
pub struct BudgetError {
    /// The text given.
    pub input: String,
    /// Why it is invalid.
    pub reason: String,
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
                let total = physical_memory().ok_or_else(|| BudgetError {
                    input: format!("{p}%"),
                    reason: "physical memory size is unknown on this system; give bytes instead"
                        .into(),
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

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| BudgetError {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty; expected e.g. 24GiB, 512MB, 80% or 0"));
        }
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| err("not a number before %"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(err("a percentage must be above 0 and at most 100"));
            }
            return Ok(Budget::Percent(p));
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
            _ => {
                return Err(err(
                    "unknown unit; use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB or %",
                ));
            }
        };
        if num.is_empty() {
            return Err(err("no number"));
        }
        if num.contains('.') {
            let v: f64 = num.parse().map_err(|_| err("not a number"))?;
            #[allow(clippy::cast_precision_loss)]
            let bytes = v * mult as f64;
            if !bytes.is_finite() || bytes >= u64::MAX as f64 {
                return Err(err("too large"));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Ok(Budget::Bytes(bytes.round() as u64));
        }
        let v: u64 = num.parse().map_err(|_| err("not a whole number"))?;
        v.checked_mul(mult)
            .map(Budget::Bytes)
            .ok_or_else(|| err("too large"))
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Bytes(b) => f.write_str(&format_bytes(*b)),
            Budget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Formats bytes for people: `1.50 GiB`, `512.00 MiB`, `17 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
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
    fn percent_resolves_against_physical_memory() {
        let total = physical_memory().unwrap();
        let half = Budget::Percent(50.0).resolve().unwrap();
        assert!(half <= total / 2 + 1 && half + 1 >= total / 2);
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(17), "17 B");
        assert_eq!(format_bytes(3 << 29), "1.50 GiB");
    }
}
