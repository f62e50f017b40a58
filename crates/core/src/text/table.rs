//! Tables as text: a header and rows of cells, each left- or right-aligned,
//! for every front end to draw its own way (the terminal draws them with
//! box characters). A report's table is built once, here in the core, so
//! that no front end picks its own columns or number formats.

/// One cell: its text and which side it hugs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The text, as printed.
    pub text: String,
    /// Right-aligned (numbers), else left-aligned.
    pub right: bool,
}

impl Cell {
    /// A left-aligned cell (names, notes).
    pub fn left(s: impl ToString) -> Cell {
        Cell {
            text: s.to_string(),
            right: false,
        }
    }

    /// A right-aligned cell (numbers).
    pub fn right(s: impl ToString) -> Cell {
        Cell {
            text: s.to_string(),
            right: true,
        }
    }
}

/// A table: a header and its rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// The rows, each as many cells as the header has titles (or fewer).
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    /// Add one row.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }
}

/// One piece of a command's text output, in order: a line or a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A line of text (it may hold line breaks).
    Line(String),
    /// A table.
    Table(Table),
    /// Text printed as it is, without a line break added (it brings its own).
    Raw(String),
}

/// A command's text output, built in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub Vec<Block>);

impl Text {
    /// Add a line.
    pub fn line(&mut self, s: impl Into<String>) {
        self.0.push(Block::Line(s.into()));
    }

    /// Add a table.
    pub fn table(&mut self, t: Table) {
        self.0.push(Block::Table(t));
    }

    /// Add text that brings its own line breaks.
    pub fn raw(&mut self, s: impl Into<String>) {
        self.0.push(Block::Raw(s.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_order_and_alignment() {
        let mut t = Table::new(&["name", "value"]);
        t.row(vec![Cell::left("a"), Cell::right(1.5)]);
        let mut out = Text::default();
        out.line("before");
        out.table(t);
        out.line("after");
        assert_eq!(out.0.len(), 3);
        match &out.0[1] {
            Block::Table(t) => {
                assert_eq!(t.header, ["name", "value"]);
                assert_eq!(
                    t.rows[0][1],
                    Cell {
                        text: "1.5".into(),
                        right: true
                    }
                );
                assert!(!t.rows[0][0].right);
            }
            b => panic!("{b:?}"),
        }
        assert_eq!(out.0[2], Block::Line("after".into()));
    }
}
