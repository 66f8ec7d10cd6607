//! Inputs that hit bugs already reported, so that the fuzz targets and the property tests can
//! skip them and look for other bugs. Each comes with an `#[ignore]`d regression test; remove
//! the entry when that test passes.

/// `Config::parse` panics on a non-ASCII character followed by key characters and `=`
/// (minimal input: `'é=`), in `Source::key_before` (crates/registry/src/config/source.rs):
/// the key is taken to start one *byte* after the last character that cannot be in a key, which
/// is inside that character when it is not ASCII. Regression test:
/// `models_toml_non_ascii_before_equals_is_an_error_not_a_panic` in `tests/parsers.rs`.
///
/// Matches a superset of the inputs that panic: a non-ASCII character, then only key
/// characters, spaces or tabs, then `=`.
pub fn models_toml_non_ascii_key(text: &str) -> bool {
    let mut after_non_ascii = false;
    for c in text.chars() {
        match c {
            '=' if after_non_ascii => return true,
            c if !c.is_ascii() => after_non_ascii = true,
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '\t') => {}
            _ => after_non_ascii = false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_minimal_inputs_and_not_plain_toml() {
        for bad in ["'é=", "'Ὗ=", "path = 'models/café=1", "x = \"µsne =\""] {
            assert!(models_toml_non_ascii_key(bad), "{bad}");
        }
        for good in ["budget = \"1GiB\"", "# é\nbudget = 1", "path = \"é/x\"\n"] {
            assert!(!models_toml_non_ascii_key(good), "{good}");
        }
    }
}
