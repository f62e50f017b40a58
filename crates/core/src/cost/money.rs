//! Electricity cost per token and the return on buying hardware.

use super::CostError;
use crate::units::Joules;
use serde::Serialize;

/// An electricity price per kWh in a currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KwhPrice {
    /// Price of one kWh.
    pub amount: f64,
    /// ISO 4217 code, upper case (`USD`, `EUR`).
    pub currency: String,
}

impl KwhPrice {
    /// Parse `0.15`, `0.15 EUR`, `0.15EUR`, `EUR 0.15` or `$0.15`; a bare
    /// number takes `default_currency`. Negative, non-finite or absurd
    /// (> 100 per kWh) prices are refused.
    pub fn parse(s: &str, default_currency: &str) -> Result<KwhPrice, CostError> {
        let t = s.trim();
        let bad = || {
            CostError::BadInput(format!(
                "--kwh-price '{s}': write a price per kWh such as 0.17, 0.17 USD or 0.29 EUR"
            ))
        };
        let (num, code): (String, String) = if let Some(rest) = t.strip_prefix('$') {
            (rest.trim().to_string(), "USD".into())
        } else if let Some(rest) = t.strip_prefix('€') {
            (rest.trim().to_string(), "EUR".into())
        } else {
            let letters: String = t.chars().filter(|c| c.is_ascii_alphabetic()).collect();
            let digits: String = t
                .chars()
                .filter(|c| !c.is_ascii_alphabetic() && !c.is_whitespace())
                .collect();
            (digits, letters)
        };
        let amount: f64 = num.parse().map_err(|_| bad())?;
        if !amount.is_finite() || amount < 0.0 {
            return Err(CostError::BadInput(format!(
                "--kwh-price '{s}': a price cannot be negative"
            )));
        }
        if amount > 100.0 {
            return Err(CostError::BadInput(format!(
                "--kwh-price '{s}': more than 100 per kWh is not a plausible electricity price"
            )));
        }
        let currency = if code.is_empty() {
            default_currency.to_ascii_uppercase()
        } else if code.len() == 3 {
            code.to_ascii_uppercase()
        } else {
            return Err(bad());
        };
        Ok(KwhPrice { amount, currency })
    }

    /// Cost of `energy` at this price, in its currency.
    pub fn cost_of(&self, energy: Joules) -> f64 {
        energy.as_kwh() * self.amount
    }

    /// Cost of one million tokens at `per_token` joules each, in its currency.
    pub fn per_million_tokens(&self, per_token: Joules) -> f64 {
        self.cost_of(Joules(per_token.0 * 1e6))
    }
}

/// An API's price per million tokens, USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ApiPrice {
    /// Input (prompt) tokens, USD per 1M.
    pub input_per_m: f64,
    /// Output (generated) tokens, USD per 1M.
    pub output_per_m: f64,
}

impl ApiPrice {
    /// A checked price pair.
    pub fn new(input_per_m: f64, output_per_m: f64) -> Result<ApiPrice, CostError> {
        for (what, v) in [
            ("--api-price-in", input_per_m),
            ("--api-price-out", output_per_m),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(CostError::BadInput(format!(
                    "{what} {v}: a price cannot be negative"
                )));
            }
        }
        Ok(ApiPrice {
            input_per_m,
            output_per_m,
        })
    }

    /// Cost of 1M generated tokens when each brings `input_per_output` prompt tokens.
    pub fn per_million_generated(&self, input_per_output: f64) -> f64 {
        self.output_per_m + self.input_per_m * input_per_output.max(0.0)
    }
}

/// What ROI needs for one local setup. Money in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoiInput {
    /// Purchase price; `None` when the catalog does not have it.
    pub purchase_usd: Option<f64>,
    /// Amortisation period, years (> 0).
    pub years: f64,
    /// Generated tokens per day the cost is computed at.
    pub tokens_per_day: f64,
    /// Electricity per 1M generated tokens, USD; `None` when not in USD.
    pub energy_usd_per_m: Option<f64>,
    /// API price per 1M generated tokens, USD.
    pub api_usd_per_m: f64,
    /// Most tokens the setup can generate in a day (decode speed × 86 400 s).
    pub capacity_tokens_per_day: f64,
}

/// Where buying breaks even with the API.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "tokens_per_day")]
pub enum BreakEven {
    /// At this many generated tokens per day, within the setup's capacity.
    At(f64),
    /// Only beyond what the setup can generate in a day.
    BeyondCapacity(f64),
    /// Never: electricity alone costs at least the API price.
    Never,
}

/// The local setup's cost against the API.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Roi {
    /// Purchase ÷ (years × 365), USD per day.
    pub hardware_usd_per_day: f64,
    /// Hardware per day spread over the day's tokens, plus electricity, USD per 1M.
    pub local_usd_per_m: f64,
    /// API, USD per 1M generated tokens.
    pub api_usd_per_m: f64,
    /// Break-even generated tokens per day.
    pub break_even: BreakEven,
}

/// Days in a year for amortisation (Julian year: 365.25).
pub const DAYS_PER_YEAR: f64 = 365.25;

/// ROI of one setup; `None` when the purchase price or an electricity cost in
/// USD is missing. Break-even: hardware per day = tokens × (API − electricity).
pub fn roi(i: &RoiInput) -> Result<Option<Roi>, CostError> {
    if !(i.years.is_finite() && i.years > 0.0) {
        return Err(CostError::BadInput(format!(
            "--years {}: the amortisation period must be positive",
            i.years
        )));
    }
    if !(i.tokens_per_day.is_finite() && i.tokens_per_day > 0.0) {
        return Err(CostError::BadInput(format!(
            "--tokens-per-day {}: must be positive",
            i.tokens_per_day
        )));
    }
    let (Some(price), Some(energy)) = (i.purchase_usd, i.energy_usd_per_m) else {
        return Ok(None);
    };
    if !(price.is_finite() && price >= 0.0) {
        return Err(CostError::BadInput(format!(
            "purchase price {price}: cannot be negative"
        )));
    }
    let per_day = price / (i.years * DAYS_PER_YEAR);
    let local = per_day / (i.tokens_per_day / 1e6) + energy;
    let break_even = break_even(per_day, i.api_usd_per_m, energy, i.capacity_tokens_per_day);
    Ok(Some(Roi {
        hardware_usd_per_day: per_day,
        local_usd_per_m: local,
        api_usd_per_m: i.api_usd_per_m,
        break_even,
    }))
}

/// Generated tokens per day at which owning (hardware `per_day` USD plus
/// `energy_per_m` USD of electricity per 1M tokens) costs the same as the
/// alternative's `alt_per_m` USD per 1M (the API, or renting by the hour):
/// per_day = tokens × (alternative − electricity).
pub fn break_even(per_day: f64, alt_per_m: f64, energy_per_m: f64, capacity: f64) -> BreakEven {
    let margin = alt_per_m - energy_per_m;
    if margin <= 0.0 {
        return BreakEven::Never;
    }
    let t = per_day / margin * 1e6;
    if t <= capacity {
        BreakEven::At(t)
    } else {
        BreakEven::BeyondCapacity(t)
    }
}
