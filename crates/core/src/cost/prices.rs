//! Dated, sourced prices (`data/prices-2026-12.csv`, a verbatim copy of
//! shared/data/prices-2026-12.csv): each row typed as a value (a number, a
//! range such as `500-800`, or a bound such as `>900`), a currency, a kind
//! (launch MSRP, street, used, quote, estimate, rental per hour), the date it
//! held and its source. Memory prices moved several-fold during 2026, so a
//! choice between rows of the same item takes the one dated closest to
//! [`REFERENCE`], and says so.

use super::CostError;
use serde::Serialize;
use std::fmt;
use std::sync::OnceLock;

/// The dated price rows, copied verbatim from shared/data/prices-2026-12.csv.
pub const PRICES_2026_12_CSV: &str = include_str!("../../data/prices-2026-12.csv");

/// "Now" for choosing between dated rows: the month the price file was
/// collected (its name says 2026-12). The core has no clock; a caller may
/// pass another date.
pub const REFERENCE: PriceDate = PriceDate {
    year: 2026,
    month: Some(12),
    day: None,
    end: None,
};

/// What a price is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    /// The maker's list price at launch.
    LaunchMsrp,
    /// A retailer's price for a new unit on a date.
    Street,
    /// A second-hand price.
    Used,
    /// A price observed once (a configurator, a shop page, a contract price).
    Quote,
    /// An analyst's or a writer's estimate; no list price exists.
    Estimate,
    /// Cloud rental, per hour.
    RentalPerHour,
    /// Given by the user (`--price`).
    User,
}

impl PriceKind {
    fn parse(kind: &str, category: &str) -> Option<PriceKind> {
        if category == "cloud_rental" {
            return Some(PriceKind::RentalPerHour);
        }
        Some(match kind {
            "launch_msrp" => PriceKind::LaunchMsrp,
            "street" => PriceKind::Street,
            "used" => PriceKind::Used,
            "quote" => PriceKind::Quote,
            "estimate" => PriceKind::Estimate,
            _ => return None,
        })
    }
}

impl fmt::Display for PriceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PriceKind::LaunchMsrp => "launch MSRP",
            PriceKind::Street => "street",
            PriceKind::Used => "used",
            PriceKind::Quote => "quote",
            PriceKind::Estimate => "estimate",
            PriceKind::RentalPerHour => "rental per hour",
            PriceKind::User => "your figure",
        })
    }
}

/// A price as the source writes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PriceValue {
    /// One figure.
    Exact {
        /// The figure.
        value: f64,
    },
    /// A range (`500-800`).
    Range {
        /// Low end.
        low: f64,
        /// High end.
        high: f64,
    },
    /// At least (`>900`).
    AtLeast {
        /// The bound.
        value: f64,
    },
    /// At most (`<40000`).
    AtMost {
        /// The bound.
        value: f64,
    },
}

impl PriceValue {
    /// Parse `1999`, `1999.99`, `500-800`, `>900`, `<40000`; `None` for an
    /// empty or worded cell (`unconfirmed`, `0.07 / 0.27 / 1.10`).
    pub fn parse(s: &str) -> Option<PriceValue> {
        let t = s.trim().replace(',', "");
        let num = |x: &str| {
            x.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        if let Some(r) = t.strip_prefix('>') {
            return num(r).map(|value| PriceValue::AtLeast { value });
        }
        if let Some(r) = t.strip_prefix('<') {
            return num(r).map(|value| PriceValue::AtMost { value });
        }
        if let Some((a, b)) = t.split_once('-') {
            let (low, high) = (num(a)?, num(b)?);
            return (low <= high).then_some(PriceValue::Range { low, high });
        }
        num(&t).map(|value| PriceValue::Exact { value })
    }

    /// The figure used in sums: the middle of a range, the bound of a bound
    /// (a bound is printed as such, so the sum says "at least" or "at most").
    pub fn point(&self) -> f64 {
        match *self {
            PriceValue::Exact { value }
            | PriceValue::AtLeast { value }
            | PriceValue::AtMost { value } => value,
            PriceValue::Range { low, high } => (low + high) / 2.0,
        }
    }
}

impl fmt::Display for PriceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: f64| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        };
        match *self {
            PriceValue::Exact { value } => write!(f, "{}", n(value)),
            PriceValue::Range { low, high } => write!(f, "{}–{}", n(low), n(high)),
            PriceValue::AtLeast { value } => write!(f, "≥{}", n(value)),
            PriceValue::AtMost { value } => write!(f, "≤{}", n(value)),
        }
    }
}

/// When a price held: a year, a month, a day, a quarter (as its middle
/// month) or a span (`2025-03 to 2026-03`, its `end` kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PriceDate {
    /// Year.
    pub year: u16,
    /// Month, when the source gives one (a quarter's middle month).
    pub month: Option<u8>,
    /// Day, when the source gives one.
    pub day: Option<u8>,
    /// End of a span, as (year, month).
    pub end: Option<(u16, u8)>,
}

impl PriceDate {
    /// Parse the `as_of` cell: `2025-03-05`, `2025-03`, `2025-Q3`, `2026`,
    /// `2026 (mid)`, `2023-07 (page scrape)`, `2025-03 to 2026-03`; `None`
    /// for `undated …`.
    pub fn parse(s: &str) -> Option<PriceDate> {
        let t = s.trim();
        if let Some((a, b)) = t.split_once(" to ") {
            let start = PriceDate::parse(a)?;
            let end = PriceDate::parse(b)?;
            return Some(PriceDate {
                end: Some((end.year, end.month.unwrap_or(6))),
                ..start
            });
        }
        let head = t.split_whitespace().next()?;
        let mut it = head.split('-');
        let year: u16 = it
            .next()?
            .parse()
            .ok()
            .filter(|y| (1990..2100).contains(y))?;
        let (mut month, mut day) = (None, None);
        if let Some(m) = it.next() {
            if let Some(q) = m.strip_prefix('Q') {
                let q: u8 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
                month = Some(q * 3 - 1);
            } else {
                month = m.parse().ok().filter(|m| (1..=12).contains(m));
                day = it
                    .next()
                    .and_then(|d| d.parse().ok())
                    .filter(|d| (1..=31).contains(d));
            }
        } else if t.contains("(mid)") {
            month = Some(6);
        }
        Some(PriceDate {
            year,
            month,
            day,
            end: None,
        })
    }

    /// Months since year 0, for distances: a year alone counts as its middle,
    /// a span as its middle.
    pub fn months(&self) -> f64 {
        let start = f64::from(self.year) * 12.0
            + self.month.map_or(6.0, |m| f64::from(m) - 1.0)
            + self.day.map_or(0.0, |d| f64::from(d) / 31.0);
        match self.end {
            Some((y, m)) => (start + f64::from(y) * 12.0 + f64::from(m) - 1.0) / 2.0,
            None => start,
        }
    }
}

impl fmt::Display for PriceDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        if let Some((y, m)) = self.end {
            write!(f, " to {y}-{m:02}")?;
        }
        Ok(())
    }
}

/// One dated, sourced price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Price {
    /// What the row prices, as the file writes it.
    pub item: String,
    /// The file's category (`apple_system`, `gpu`, `cpu`, `memory`, …).
    pub category: String,
    /// The figure.
    pub value: PriceValue,
    /// ISO 4217 code (`USD`, `EUR`).
    pub currency: String,
    /// The unit after the currency (`per module`, `per GPU-hour`, `(1kU)`), if any.
    pub per: String,
    /// What kind of price.
    pub kind: PriceKind,
    /// When it held (`None`: undated).
    pub as_of: Option<PriceDate>,
    /// The `as_of` cell as written.
    pub as_of_text: String,
    /// Where it comes from.
    pub source: String,
    /// The row's notes.
    pub notes: String,
}

impl Price {
    /// A user's figure (`--price 4090=1600`), in USD.
    pub fn user(item: &str, usd: f64) -> Price {
        Price {
            item: item.to_string(),
            category: "user".into(),
            value: PriceValue::Exact { value: usd },
            currency: "USD".into(),
            per: String::new(),
            kind: PriceKind::User,
            as_of: None,
            as_of_text: "given".into(),
            source: "--price".into(),
            notes: String::new(),
        }
    }

    /// `3999 USD (launch MSRP, 2025-03-05)`: the figure with its kind and date.
    pub fn short(&self) -> String {
        let per = if self.per.starts_with("per ") {
            format!(" {}", self.per)
        } else {
            String::new()
        };
        format!(
            "{} {}{per} ({}, {})",
            self.value, self.currency, self.kind, self.as_of_text
        )
    }
}

/// Every dated price row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// The rows with a figure (rows that state no price are left out).
    pub rows: Vec<Price>,
}

static EMBEDDED: OnceLock<Result<Prices, CostError>> = OnceLock::new();

impl Prices {
    /// The embedded file, parsed on first use.
    pub fn embedded() -> Result<&'static Prices, CostError> {
        EMBEDDED
            .get_or_init(|| Prices::from_csv(PRICES_2026_12_CSV))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parse a file with the columns of prices-2026-12.csv.
    pub fn from_csv(text: &str) -> Result<Prices, CostError> {
        let bad = |e: String| CostError::Model(format!("prices-2026-12.csv: {e}"));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers().map_err(|e| bad(e.to_string()))?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| bad(format!("no column {name}")))
        };
        let [item, category, value, unit, kind, as_of, source, notes] = [
            "item",
            "category",
            "value",
            "unit",
            "price_kind",
            "as_of",
            "source",
            "notes",
        ]
        .map(col);
        let (item, category, value, unit, kind, as_of, source, notes) = (
            item?, category?, value?, unit?, kind?, as_of?, source?, notes?,
        );
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            let get = |i: usize| rec.get(i).unwrap_or_default().trim().to_string();
            // Rows that state no price (a build whose price the source leaves out) carry only notes.
            let Some(v) = PriceValue::parse(&get(value)) else {
                continue;
            };
            let cat = get(category);
            let Some(k) = PriceKind::parse(&get(kind), &cat) else {
                return Err(bad(format!(
                    "{}: unknown price_kind '{}'",
                    get(item),
                    get(kind)
                )));
            };
            let unit_text = get(unit);
            let (currency, per) = match unit_text.split_once(' ') {
                Some((c, rest)) => (c.to_string(), rest.trim().to_string()),
                None => (unit_text.clone(), String::new()),
            };
            rows.push(Price {
                item: get(item),
                category: cat,
                value: v,
                currency,
                per,
                kind: k,
                as_of: PriceDate::parse(&get(as_of)),
                as_of_text: get(as_of),
                source: get(source),
                notes: get(notes),
            });
        }
        Ok(Prices { rows })
    }

    /// Rows in USD whose item starts with one of `keys`, of the kinds `ok` allows.
    pub fn matching<'a>(
        &'a self,
        keys: &'a [String],
        ok: &'a dyn Fn(PriceKind) -> bool,
    ) -> impl Iterator<Item = &'a Price> + 'a {
        self.rows.iter().filter(move |p| {
            p.currency == "USD" && ok(p.kind) && keys.iter().any(|k| p.item.starts_with(k.as_str()))
        })
    }

    /// The row dated closest to `now` among those `matching` gives; undated
    /// rows only when no dated one exists. Ties keep the file's order.
    pub fn closest<'a>(
        &'a self,
        keys: &'a [String],
        ok: &'a dyn Fn(PriceKind) -> bool,
        now: PriceDate,
    ) -> Option<&'a Price> {
        Self::closest_of(self.matching(keys, ok), now)
    }

    /// The USD row of the kinds `ok` allows whose item is `name` or `name (…`,
    /// dated closest to `now` (a CPU's rows: "AMD EPYC 9654 (96c, Genoa)"
    /// but not "AMD EPYC 9654P (…").
    pub fn closest_named<'a>(
        &'a self,
        name: &str,
        ok: &dyn Fn(PriceKind) -> bool,
        now: PriceDate,
    ) -> Option<&'a Price> {
        let open = format!("{name} (");
        let rows = self.rows.iter().filter(|p| {
            p.currency == "USD" && ok(p.kind) && (p.item == name || p.item.starts_with(&open))
        });
        Self::closest_of(rows, now)
    }

    fn closest_of<'a>(rows: impl Iterator<Item = &'a Price>, now: PriceDate) -> Option<&'a Price> {
        let dist = |p: &Price| {
            p.as_of
                .map_or(f64::INFINITY, |d| (now.months() - d.months()).abs())
        };
        rows.fold(None, |best: Option<&Price>, p| match best {
            Some(b) if dist(b) <= dist(p) => Some(b),
            _ => Some(p),
        })
    }
}

/// `--price KEY=USD`: the user's price for a part (a catalog name such as
/// `4090`, or `motherboard`, `ram`, `cpu`, `host`), which replaces the file's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceOverride {
    /// What it prices, as written.
    pub key: String,
    /// USD (per unit for a device, the whole part for `ram`, `motherboard`).
    pub usd: f64,
}

impl PriceOverride {
    /// Parse `4090=1600`, `motherboard=900`, `ram=6000`.
    pub fn parse(s: &str) -> Result<PriceOverride, CostError> {
        let bad = || {
            CostError::BadInput(format!(
                "--price '{s}': write PART=USD, e.g. --price 4090=1600 or --price motherboard=900"
            ))
        };
        let (k, v) = s.split_once('=').ok_or_else(bad)?;
        let usd: f64 = v
            .trim()
            .trim_start_matches('$')
            .replace(',', "")
            .parse()
            .map_err(|_| bad())?;
        if !(usd.is_finite() && usd >= 0.0) || k.trim().is_empty() {
            return Err(bad());
        }
        Ok(PriceOverride {
            key: k.trim().to_string(),
            usd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_ranges_and_bounds() {
        assert_eq!(
            PriceValue::parse("1999"),
            Some(PriceValue::Exact { value: 1999.0 })
        );
        assert_eq!(
            PriceValue::parse("500-800"),
            Some(PriceValue::Range {
                low: 500.0,
                high: 800.0
            })
        );
        assert_eq!(PriceValue::parse("500-800").unwrap().point(), 650.0);
        assert_eq!(
            PriceValue::parse(">900"),
            Some(PriceValue::AtLeast { value: 900.0 })
        );
        assert_eq!(
            PriceValue::parse("<40000"),
            Some(PriceValue::AtMost { value: 40000.0 })
        );
        assert_eq!(PriceValue::parse(""), None);
        assert_eq!(PriceValue::parse("unconfirmed"), None);
        assert_eq!(PriceValue::parse("800-500"), None);
    }

    #[test]
    fn dates_of_every_form_in_the_file() {
        let d = PriceDate::parse("2025-03-05").unwrap();
        assert_eq!((d.year, d.month, d.day), (2025, Some(3), Some(5)));
        assert_eq!(PriceDate::parse("2025-Q3").unwrap().month, Some(8));
        assert_eq!(PriceDate::parse("2026 (mid)").unwrap().month, Some(6));
        assert_eq!(
            PriceDate::parse("2023-07 (page scrape)").unwrap().month,
            Some(7)
        );
        let span = PriceDate::parse("2025-03 to 2026-03").unwrap();
        assert_eq!(span.end, Some((2026, 3)));
        assert!(span.months() < PriceDate::parse("2026-03").unwrap().months());
        assert_eq!(PriceDate::parse("undated (Epoch dataset)"), None);
    }

    #[test]
    fn every_priced_row_parses_with_its_date_kind_and_source() {
        let p = Prices::embedded().unwrap();
        // Rows with a price in the file: all but the builds whose price the source leaves out.
        let raw = PRICES_2026_12_CSV.lines().count() - 1;
        assert!(
            p.rows.len() > 120 && p.rows.len() < raw,
            "{} of {raw}",
            p.rows.len()
        );
        for r in &p.rows {
            assert!(!r.source.is_empty(), "{}: no source", r.item);
            let undated = r.as_of_text.starts_with("undated");
            assert_eq!(r.as_of.is_none(), undated, "{}: {}", r.item, r.as_of_text);
        }
        let m3 = p
            .rows
            .iter()
            .find(|r| r.item.starts_with("Mac Studio (2025) M3 Ultra 28-core"))
            .unwrap();
        assert_eq!(m3.value, PriceValue::Exact { value: 3999.0 });
        assert_eq!(m3.kind, PriceKind::LaunchMsrp);
        assert_eq!(m3.as_of.unwrap().to_string(), "2025-03-05");
        let used = p
            .rows
            .iter()
            .find(|r| r.item == "NVIDIA GeForce RTX 3090 24GB (used)")
            .unwrap();
        assert_eq!(
            used.value,
            PriceValue::Range {
                low: 500.0,
                high: 800.0
            }
        );
        assert_eq!(used.kind, PriceKind::Used);
        let rent = p
            .rows
            .iter()
            .find(|r| r.category == "cloud_rental")
            .unwrap();
        assert_eq!(rent.kind, PriceKind::RentalPerHour);
        assert_eq!(rent.per, "per GPU-hour");
    }

    #[test]
    fn memory_takes_the_row_dated_closest_to_now() {
        let p = Prices::embedded().unwrap();
        let keys = vec!["64GB DDR5 RDIMM".to_string()];
        let any = |_: PriceKind| true;
        let now = p.closest(&keys, &any, REFERENCE).unwrap();
        assert_eq!(now.as_of_text, "2026-Q2");
        assert_eq!(now.value, PriceValue::AtLeast { value: 1000.0 });
        // A year earlier the same module cost a quarter as much.
        let then = PriceDate::parse("2025-09").unwrap();
        assert_eq!(p.closest(&keys, &any, then).unwrap().as_of_text, "2025-Q3");
    }

    #[test]
    fn overrides_parse() {
        let o = PriceOverride::parse("4090=1600").unwrap();
        assert_eq!((o.key.as_str(), o.usd), ("4090", 1600.0));
        assert_eq!(PriceOverride::parse("ram=$6,000").unwrap().usd, 6000.0);
        assert!(PriceOverride::parse("4090").is_err());
        assert!(PriceOverride::parse("4090=-1").is_err());
    }
}
