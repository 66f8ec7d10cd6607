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
    lines: LineIndex,
}

impl<'a> Source<'a> {
    /// The text of `file`, whose relative paths resolve against `base`; indexes its lines once.
    pub fn new(file: &'a Path, base: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            base,
            text,
            lines: LineIndex::new(text),
        }
    }

    /// The line and column of byte `offset`: a binary search and at most one block of
    /// [`BLOCK`] bytes counted, however long the file or the line.
    pub fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset);
        let (line, column) = self.lines.locate(self.text, offset);
        Location {
            file: self.file.to_owned(),
            line,
            column,
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

/// Bytes per block of [`LineIndex`]'s character counts.
const BLOCK: usize = 4096;

/// Where lines start and how many characters precede each block of [`BLOCK`] bytes, built in
/// one pass over the text. Locating a byte offset costs a binary search and counting at most
/// two partial blocks, so locating every model of a large file is linear, not a scan of the
/// file per model (which made `ls` quadratic: 11 s at 10,000 models).
struct LineIndex {
    /// The byte offset of each line's start (the first is 0).
    starts: Vec<usize>,
    /// `chars[k]`: characters in `text[..k * BLOCK]`.
    chars: Vec<usize>,
    /// Bytes counted by lookups (tests check the bound).
    #[cfg(test)]
    counted: std::cell::Cell<usize>,
}

/// Whether `b` starts a character (is not a UTF-8 continuation byte).
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut total = 0;
        chars.push(0);
        for block in bytes.chunks(BLOCK) {
            total += block.iter().filter(|&&b| starts_char(b)).count();
            chars.push(total);
        }
        Self {
            starts,
            chars,
            #[cfg(test)]
            counted: std::cell::Cell::new(0),
        }
    }

    /// Characters in `text[..offset]`.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / BLOCK;
        let tail = &text.as_bytes()[block * BLOCK..offset];
        #[cfg(test)]
        self.counted.set(self.counted.get() + tail.len());
        self.chars[block] + tail.iter().filter(|&&b| starts_char(b)).count()
    }

    /// The 1-based line and column (in characters) of `offset`, a character boundary.
    fn locate(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = self.chars_before(text, offset) - self.chars_before(text, start) + 1;
        (line, column)
    }
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
        Source::new(Path::new("models.toml"), Path::new("/cfg"), text)
    }

    #[test]
    fn the_index_agrees_with_counting_at_every_offset() {
        // Lines of every length around the block size, multi-byte characters across blocks.
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&"é€x".repeat(i * 97));
            text.push('\n');
        }
        let s = source(&text);
        // The definition, walked once: newlines before, characters since the last one.
        let (mut line, mut column) = (1, 1);
        for (offset, c) in text.char_indices() {
            // Every offset near a block boundary, a sample of the others.
            let near = offset % BLOCK < 8 || offset % BLOCK > BLOCK - 8;
            if near || offset % 61 == 0 {
                let at = s.location(offset);
                assert_eq!((at.line, at.column), (line, column), "offset {offset}");
            }
            if c == '\n' {
                (line, column) = (line + 1, 1);
            } else {
                column += 1;
            }
        }
        let end = s.location(text.len());
        assert_eq!((end.line, end.column), (line, column));
    }

    #[test]
    fn locating_every_model_of_a_large_file_does_not_rescan_it() {
        // 20,000 models, and every key located, as parsing a config does.
        let text: String = (0..20_000)
            .map(|i| format!("[models.m{i}]\nbackend = \"flux\"\npath = \"models/m{i}\"\n\n"))
            .collect();
        let s = source(&text);
        let offsets: Vec<usize> = text.match_indices("path").map(|(i, _)| i).collect();
        for &o in &offsets {
            s.location(o);
        }
        // At most two partial blocks per lookup, whatever the offset (a rescan of the text
        // before each model would count about 20,000 × 600 KB).
        assert!(
            s.lines.counted.get() <= offsets.len() * 2 * BLOCK,
            "{} bytes counted for {} lookups",
            s.lines.counted.get(),
            offsets.len()
        );
        let last = s.location(*offsets.last().unwrap_or(&0));
        assert_eq!(last.line, 20_000 * 4 - 1);
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
