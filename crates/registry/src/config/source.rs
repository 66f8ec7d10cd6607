//! The text of a models.toml and where things are in it: byte spans to line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A place in a configuration file, for error messages (`models.toml:7:11`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The file being parsed: its name, its folder and its text.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    /// The folder relative paths are resolved against.
    pub base: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// The line and column of byte `offset`.
    pub fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset);
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: self.file.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The location of the start of `span`.
    pub fn at(&self, span: &Range<usize>) -> Location {
        self.location(span.start)
    }

    /// The last `[table]` header before `offset`, e.g. `models.flux-schnell`.
    pub fn table_before(&self, offset: usize) -> Option<String> {
        let offset = floor_char_boundary(self.text, offset);
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_before = before[line_start..].trim_start();
        if line_before.is_empty() && self.text[offset..].starts_with('[') {
            // The span is a whole table (a missing key): name that table.
            return header(self.text[offset..].lines().next().unwrap_or_default());
        }
        if line_before.starts_with('[') {
            // The offset is inside a header: the error is about the header's own key.
            return None;
        }
        before.lines().rev().find_map(header)
    }

    /// The key whose value starts at `offset` (`size` in `size = "12 parsecs"`), if any.
    pub fn key_before(&self, offset: usize) -> Option<String> {
        let offset = floor_char_boundary(self.text, offset);
        let before = self.text[..offset].trim_end_matches([' ', '\t']);
        let before = before.strip_suffix('=')?.trim_end_matches([' ', '\t']);
        // The byte after the last non-key character, which may be several bytes long.
        let key_start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key = &before[key_start..];
        (!key.is_empty()).then(|| key.to_owned())
    }
}

/// The table a `[header]` or `[[header]]` line names.
fn header(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim().to_owned())
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source {
            file: Path::new("models.toml"),
            base: Path::new("/cfg"),
            text,
        }
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        let s = source("[cache]\nbudget = \"é1\"\n");
        assert_eq!(s.location(0).line, 1);
        let at = s.location(s.text.find('1').unwrap_or(0));
        assert_eq!((at.line, at.column), (2, 12));
        assert_eq!(at.to_string(), "models.toml:2:12");
    }

    #[test]
    fn finds_the_table_and_the_key() {
        let text = "[models.a]\nbackend = \"x\"\n[models.b]\nsize =  \"12 parsecs\"\n";
        let s = source(text);
        let value = text.find("\"12").unwrap_or(0);
        assert_eq!(s.table_before(value).as_deref(), Some("models.b"));
        assert_eq!(s.key_before(value).as_deref(), Some("size"));
        let inline = "x = { size = 3 }";
        assert_eq!(source(inline).key_before(13).as_deref(), Some("size"));
        assert_eq!(source("[a]\n").key_before(4), None);
        assert_eq!(source("[a]\n[bcd]").table_before(6), None);
        assert_eq!(source("[a]\n[bcd]").table_before(4).as_deref(), Some("bcd"));
    }
}
