//! Byte counts in words: what errors, events and reports show.

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

/// Formats bytes for people, with the exact count where a rounded figure could mislead (a
/// budget just missed): `100.00 MiB (104,857,600 bytes)`; `17 B` below a KiB.
pub fn format_bytes_exact(bytes: u64) -> String {
    if bytes < 1024 {
        return format_bytes(bytes);
    }
    let digits = bytes.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{} ({grouped} bytes)", format_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(17), "17 B");
        assert_eq!(format_bytes(3 << 29), "1.50 GiB");
        assert_eq!(format_bytes_exact(17), "17 B");
        assert_eq!(
            format_bytes_exact(104_857_600),
            "100.00 MiB (104,857,600 bytes)"
        );
        assert_eq!(format_bytes_exact(1024), "1.00 KiB (1,024 bytes)");
    }
}
