//! [`shown`]: a path as error messages print it, with control characters escaped.
//!
//! A checkpoint folder from the internet can hold a file whose name carries a newline or a
//! terminal escape sequence; printed raw, an error naming it could forge log lines or rewrite
//! the terminal. Every error message of the contract and the toolkit prints paths through this.

use std::fmt;
use std::path::Path;

/// `path` for display: as [`Path::display`], with each control character (newline, escape,
/// ...) written as its Rust escape (`\n`, `\u{1b}`).
pub fn shown<P: AsRef<Path> + ?Sized>(path: &P) -> Shown<'_> {
    Shown(path.as_ref())
}

/// What [`shown`] returns.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(&'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.display().to_string();
        if !text.chars().any(char::is_control) {
            return f.write_str(&text);
        }
        for c in text.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_print_as_they_are_and_control_characters_escaped() {
        assert_eq!(
            shown("/models/flux é/ae.safetensors").to_string(),
            "/models/flux é/ae.safetensors"
        );
        assert_eq!(
            shown("/m/x\n\u{1b}[2Jy.safetensors").to_string(),
            "/m/x\\n\\u{1b}[2Jy.safetensors"
        );
    }
}
