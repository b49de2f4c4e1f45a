//! Docker's aligned table output.
//!
//! The docker CLI writes tables through its fork of Go's text/tabwriter,
//! `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: minimum cell width 10
//! *including* the padding, 3 spaces of padding, space as the pad char.
//! Cells are tab-*terminated*: the text after the last tab of a line is not
//! part of a column and is never padded, which is why Docker's rows have no
//! trailing spaces.
//!
//! The `tabwriter` crate is a port of the same elastic-tabstop algorithm, but
//! its `minwidth` excludes the padding (width = max(minwidth, text) +
//! padding, where Go has max(minwidth, text + padding)). Using
//! `minwidth = 10 - 3` gives identical widths. Cell widths are Unicode
//! display widths in both (the docker fork uses go-runewidth). Not ported,
//! as Docker's output never relies on them: Go's `\v`/`\f` cell terminators
//! and `0xff` escapes.

use std::io::{self, Write};

use tabwriter::TabWriter;

/// Go's `minwidth` argument in the docker CLI.
const GO_MIN_WIDTH: usize = 10;
/// Go's `padding` argument in the docker CLI.
const PADDING: usize = 3;

/// Runs tab-separated text through a tab writer configured like the docker
/// CLI's. Lines end in `\n`; each `\t` ends a cell.
pub fn write_aligned<W: Write>(text: &str, out: &mut W) -> io::Result<()> {
    let mut tw = TabWriter::new(out)
        .minwidth(GO_MIN_WIDTH - PADDING)
        .padding(PADDING);
    tw.write_all(text.as_bytes())?;
    tw.flush()
}

/// A table of header and rows, written the way Docker aligns its default
/// listings:
///
/// ```text
/// REPOSITORY   TAG       IMAGE ID       CREATED       SIZE
/// ubuntu       18.04     5a214d77f5d7   2 years ago   63.1MB
/// ```
///
/// Cells are written as given; a cell containing a tab or newline would
/// break the alignment exactly as it does in Docker, so callers that show
/// free text (e.g. `history`'s CREATED BY) replace tabs first, like the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new<I, S>(header: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut t = Table::default();
        t.push_row(header);
        t
    }

    /// Appends a row of cells.
    pub fn push_row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The rows as tab-separated lines, each ending in `\n`.
    fn to_tabbed(&self) -> String {
        let mut text = String::new();
        for row in &self.rows {
            text.push_str(&row.join("\t"));
            text.push('\n');
        }
        text
    }

    /// Writes the aligned table.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        write_aligned(&self.to_tabbed(), out)
    }

    /// The aligned table as a string.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned(text: &str) -> String {
        let mut buf = Vec::new();
        write_aligned(text, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn images_layout() {
        let mut t = Table::new(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
        t.push_row(["ubuntu", "18.04", "5a214d77f5d7", "2 years ago", "63.1MB"]);
        assert_eq!(
            t.render(),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             ubuntu       18.04     5a214d77f5d7   2 years ago   63.1MB\n"
        );
    }

    #[test]
    fn minimum_width_includes_padding() {
        // "TAG" (3) gets a 10-wide column, not 3+3 or 10+3.
        assert_eq!(aligned("A\tB\n"), "A         B\n");
        // A 7-wide cell plus padding is exactly the minimum.
        assert_eq!(aligned("ABCDEFG\tB\n"), "ABCDEFG   B\n");
        // Wider cells get exactly three spaces of padding.
        assert_eq!(aligned("ABCDEFGHIJK\tB\n"), "ABCDEFGHIJK   B\n");
    }

    #[test]
    fn last_cell_is_not_padded_but_tab_terminated_cells_are() {
        assert_eq!(aligned("a\tb"), "a         b");
        // A trailing tab makes the last text a column cell: padded.
        assert_eq!(aligned("a\tb\t\n"), "a         b         \n");
        // Empty cells still take the column width.
        assert_eq!(
            aligned("a\t\tc\nxx\ty\tz\n"),
            "a                   c\nxx        y         z\n"
        );
    }

    #[test]
    fn columns_are_only_aligned_while_contiguous() {
        // The middle line has no tab, which ends the column block (Go's
        // elastic tabstops); the last line starts a new block.
        assert_eq!(
            aligned("aaaaaaaaaaaa\tb\nplain\nc\td\n"),
            "aaaaaaaaaaaa   b\nplain\nc         d\n"
        );
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(
            aligned("你好你好你好\tx\na\ty\n"),
            "你好你好你好   x\na              y\n"
        );
    }

    #[test]
    fn header_only_table() {
        let t = Table::new(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
        assert_eq!(
            t.render(),
            "IMAGE     CREATED   CREATED BY   SIZE      COMMENT\n"
        );
    }
}
