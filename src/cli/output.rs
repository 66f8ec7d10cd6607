//! Human output: every line the command line prints goes through [`out`] or [`err`], which
//! escape what a terminal would act on, and tables are padded by hand.
//!
//! Model IDs and paths come from configs, and tensor names, dtypes and shard names from
//! checkpoints that strangers wrote; printed raw, an index entry can clear the screen and print
//! a fake "all 1 models OK". So the rule, applied to whole lines (the command line's own text
//! has no control characters, and escaping is idempotent): control characters (C0 including
//! newline, tab and escape, DEL, C1) and Unicode's bidirectional formatting characters (which
//! reorder what is shown) are written as `\u{..}`. JSON output ([`json`]) is printed as
//! serialized: JSON strings escape control characters themselves, and the values stay exact.
//!
//! The `cli` module denies `print!`/`eprint!` outside this file (clippy's `print_stdout` and
//! `print_stderr`), so no output can skip the rule.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown as something other than itself: a control character, or a
/// bidirectional formatting character (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character a terminal would act on written as `\u{XX}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts_on_terminal(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prints one line on standard output, escaped.
pub fn out(line: impl std::fmt::Display) {
    println!("{}", escape(&line.to_string()));
}

/// Prints one line on standard error, escaped.
pub fn err(line: impl std::fmt::Display) {
    eprintln!("{}", escape(&line.to_string()));
}

/// Prints serialized JSON on standard output as it is (its strings are escaped by JSON).
pub fn json(text: &str) {
    println!("{text}");
}

/// A table printed with aligned columns; a column whose cells all look numeric (or are `-`)
/// is right-aligned. Cells are escaped when added, so widths count what is shown.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| escape(c).into_owned()).collect());
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn print(&self) {
        for line in self.lines() {
            out(line);
        }
    }

    /// The lines [`print`](Self::print) prints. Padding is written by hand: a formatter
    /// width (`{:w$}`) panics past 65,535, and a cell can be as long as a path.
    fn lines(&self) -> Vec<String> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let looks_numeric = |c: &str| {
            c.trim_start_matches(['-', '+'])
                .starts_with(|ch: char| ch.is_ascii_digit())
        };
        let numeric: Vec<bool> = (0..widths.len())
            .map(|i| {
                let cells = || self.rows.iter().filter_map(|r| r.get(i));
                cells().any(|c| looks_numeric(c)) && cells().all(|c| c == "-" || looks_numeric(c))
            })
            .collect();
        let line = |cells: &[String]| {
            let mut text = String::from(" ");
            for (i, c) in cells.iter().enumerate() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                let numeric = numeric.get(i).copied().unwrap_or(false);
                text.push(' ');
                if i > 0 {
                    text.push(' ');
                }
                if numeric {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(c);
                } else {
                    text.push_str(c);
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            text.trim_end().to_owned()
        };
        let mut lines = vec![line(&self.header)];
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        lines.push(format!("  {}", rule.join("  ")));
        lines.extend(self.rows.iter().map(|r| line(r)));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_the_rest_kept() {
        let hostile = "w\u{1b}[2J\u{1b}[H\nall 1 models OK\u{202e}txt.exe\u{7f}\u{9b}";
        let shown = escape(hostile);
        assert_eq!(
            shown,
            "w\\u{1b}[2J\\u{1b}[H\\u{a}all 1 models OK\\u{202e}txt.exe\\u{7f}\\u{9b}"
        );
        assert!(!shown.chars().any(acts_on_terminal));
        assert_eq!(escape(&shown), shown, "escaping is idempotent");
        assert!(matches!(escape("flux-schnell é 模型"), Cow::Borrowed(_)));
    }

    #[test]
    fn cells_longer_than_a_formatter_width_are_padded_without_panicking() {
        let mut table = Table::new(&["model", "bytes", "path"]);
        let long = "m".repeat(70_000);
        table.row(vec![long.clone(), "12".into(), "p".repeat(100_000)]);
        table.row(vec!["a".into(), "3".into(), "q".into()]);
        let lines = table.lines();
        assert_eq!(lines.len(), 4);
        // Columns two spaces apart; numbers right-aligned under "bytes", text left-aligned.
        assert!(lines[2].starts_with(&format!("  {long}     12  ppp")));
        assert_eq!(lines[3], format!("  a{}      3  q", " ".repeat(69_999)));
    }

    #[test]
    fn numeric_columns_are_right_aligned_wherever_they_are() {
        let mut table = Table::new(&["count", "name", "p50"]);
        table.row(vec!["7".into(), "8b-model".into(), "-".into()]);
        table.row(vec!["120".into(), "kokoro".into(), "50 ns".into()]);
        let lines = table.lines();
        assert_eq!(lines[2], "      7  8b-model      -");
        assert_eq!(lines[3], "    120  kokoro    50 ns");
    }

    #[test]
    fn cells_are_escaped_and_widths_count_what_is_shown() {
        let mut table = Table::new(&["tensor"]);
        table.row(vec!["a\u{1b}[31mb".into()]);
        let lines = table.lines();
        assert_eq!(lines[2], "  a\\u{1b}[31mb");
        assert_eq!(lines[1], format!("  {}", "-".repeat("a\\u{1b}[31mb".len())));
    }
}
