//! Terminal rendering helpers shared by the commands.

use canirun_core::validate::Summary;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

/// A table with canirun's look.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    t
}

/// A table with canirun's look that wraps at 120 columns when the terminal's
/// width is unknown (piped output), for long catalog text.
pub fn wrapped<T: Into<Cell>>(header: impl IntoIterator<Item = T>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if t.width().is_none() {
        t.set_width(120);
    }
    t
}

/// `v`, or `none` when there is no value.
pub fn or(v: Option<impl ToString>, none: &str) -> String {
    v.map_or_else(|| none.to_string(), |v| v.to_string())
}

/// A right-aligned cell.
pub fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

/// `--json` output: pretty-printed JSON.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `--json` output of a validate command: the report, then the summary line
/// that closes every validate command's output.
pub fn print_json_report<T: serde::Serialize>(report: &T, summary: &Summary) -> anyhow::Result<()> {
    json(report)?;
    println!("{}", summary.line());
    Ok(())
}

/// Print a command's text from the core: its lines, and its tables drawn
/// with canirun's look.
pub fn text(t: &canirun_core::text::table::Text) {
    use canirun_core::text::table::Block;
    for b in &t.0 {
        match b {
            Block::Line(l) => println!("{l}"),
            Block::Raw(r) => print!("{r}"),
            Block::Table(tab) => {
                let header: Vec<&str> = tab.header.iter().map(String::as_str).collect();
                let mut out = table(&header);
                for row in &tab.rows {
                    out.add_row(row.iter().map(|c| {
                        if c.right {
                            right(&c.text)
                        } else {
                            Cell::new(&c.text)
                        }
                    }));
                }
                println!("{out}");
            }
        }
    }
}
