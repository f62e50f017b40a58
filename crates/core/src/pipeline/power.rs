//! Power, energy per token, electricity and the return on buying the
//! hardware instead of paying an API, for a setup whose speed is estimated.

use super::{Request, SpeedReport};
use crate::cost::{
    break_even, energy_per_token, heat_btu_per_hour, loads_for, price_set, psu_size,
    rental_per_hour, roi, wall_power, ApiPrice, BreakEven, CostError, KwhPrice, Phase,
    PowerEstimate, PowerModel, Price, PriceDate, PriceOverride, Roi, RoiInput, SystemPrice,
};
use crate::speed::Calibration;
use crate::units::{Joules, Watts};
use serde::Serialize;

/// The cost inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerRequest {
    /// Electricity price.
    pub kwh: KwhPrice,
    /// Amortisation period, years.
    pub years: f64,
    /// Generated tokens per day.
    pub tokens_per_day: f64,
    /// API price to compare with.
    pub api: ApiPrice,
    /// Prompt tokens per generated token (API input cost and local prefill energy).
    pub input_per_output: f64,
    /// The user's prices (`--price 4090=1600`), replacing the price file's.
    pub price_overrides: Vec<PriceOverride>,
    /// "Now" for choosing between dated price rows.
    pub price_date: PriceDate,
}

impl PowerRequest {
    /// The defaults of the power model (US residential electricity, 3 years,
    /// 1M tokens a day, DeepSeek's R1 API price).
    pub fn defaults() -> Result<PowerRequest, CostError> {
        let d = &PowerModel::embedded()?.defaults;
        Ok(PowerRequest {
            kwh: KwhPrice {
                amount: d.kwh_price,
                currency: d.kwh_currency.clone(),
            },
            years: d.years,
            tokens_per_day: d.tokens_per_day,
            api: ApiPrice::new(d.api_price_in, d.api_price_out)?,
            input_per_output: 0.0,
            price_overrides: vec![],
            price_date: crate::cost::prices::REFERENCE,
        })
    }
}

/// The cost flags as given; `None` keeps the power model's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostFlags<'a> {
    /// `--kwh-price` (`0.17`, `0.29 EUR`).
    pub kwh: Option<&'a str>,
    /// `--years`.
    pub years: Option<f64>,
    /// `--tokens-per-day`.
    pub tokens_per_day: Option<f64>,
    /// `--api-price-in`, USD per 1M.
    pub api_in: Option<f64>,
    /// `--api-price-out`, USD per 1M.
    pub api_out: Option<f64>,
    /// `--input-per-output`.
    pub input_per_output: f64,
    /// `--price PART=USD`, each as given.
    pub prices: &'a [String],
}

impl PowerRequest {
    /// The defaults with the flags given, each checked.
    pub fn from_flags(f: &CostFlags<'_>) -> Result<PowerRequest, CostError> {
        let mut p = PowerRequest::defaults()?;
        if let Some(k) = f.kwh {
            p.kwh = KwhPrice::parse(k, &p.kwh.currency)?;
        }
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(CostError::BadInput(format!(
                    "{what} {v}: must be a positive number"
                )))
            }
        };
        p.years = positive("--years", f.years.unwrap_or(p.years))?;
        p.tokens_per_day = positive(
            "--tokens-per-day",
            f.tokens_per_day.unwrap_or(p.tokens_per_day),
        )?;
        if !(f.input_per_output.is_finite() && f.input_per_output >= 0.0) {
            return Err(CostError::BadInput(format!(
                "--input-per-output {}: must be zero or positive",
                f.input_per_output
            )));
        }
        p.input_per_output = f.input_per_output;
        p.price_overrides = f
            .prices
            .iter()
            .map(|s| PriceOverride::parse(s))
            .collect::<Result<_, _>>()?;
        if f.api_in.is_some() || f.api_out.is_some() {
            p.api = ApiPrice::new(
                f.api_in.unwrap_or(p.api.input_per_m),
                f.api_out.unwrap_or(p.api.output_per_m),
            )?;
        }
        Ok(p)
    }
}

/// Power and money of one setup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerReport {
    /// Wall power while decoding.
    pub decode_power: Option<PowerEstimate>,
    /// Wall power while prefilling.
    pub prefill_power: Option<PowerEstimate>,
    /// Heat while decoding, BTU/h.
    pub heat_btu_per_hour: Option<f64>,
    /// Power supply to buy.
    pub psu: Option<Watts>,
    /// Energy per generated token (with its prompt's share).
    pub joules_per_token: Option<Joules>,
    /// Electricity per million generated tokens, in the kWh price's currency.
    pub electricity_per_m: Option<f64>,
    /// Purchase price of the system, USD (its priced parts; see `system_price`).
    pub purchase_usd: Option<f64>,
    /// The system's price: its parts with kind, date and source, and what has no price.
    pub system_price: Option<SystemPrice>,
    /// Renting the same GPUs by the hour instead, when every GPU has a rental row.
    pub rental: Option<Rental>,
    /// Cost per token against the API.
    pub roi: Option<Roi>,
    /// API price per million generated tokens, USD.
    pub api_usd_per_m: f64,
    /// Caveats.
    pub notes: Vec<String>,
}

/// Renting the setup's GPUs by the hour instead of buying them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rental {
    /// USD per hour for all the GPUs.
    pub usd_per_hour: f64,
    /// USD per 1M generated tokens, renting only the hours spent generating.
    pub usd_per_m: f64,
    /// Tokens per day above which buying costs less than renting.
    pub break_even: Option<BreakEven>,
    /// The rental rows used (kind, date, source).
    pub rows: Vec<Price>,
}

/// Power and cost of the request's setup (named hardware only: the catalog
/// holds the board powers and prices).
pub(super) fn estimate(
    req: &Request<'_>,
    pr: &PowerRequest,
    sp: &SpeedReport,
) -> Result<PowerReport, CostError> {
    let set = req.hardware.set.as_ref().ok_or_else(|| {
        CostError::BadInput(
            "power needs named hardware (--gpu NAME): the catalog holds board powers and prices"
                .into(),
        )
    })?;
    let pm = PowerModel::embedded()?;
    let cal = Calibration::embedded().map_err(|e| CostError::BadInput(e.to_string()))?;
    let mut notes = Vec::new();
    let dec = sp.decode_first();
    let loads =
        loads_for(set, &sp.placement, 0, cal).map_err(|e| CostError::BadInput(e.to_string()))?;
    let dpow = match wall_power(pm, &loads, Phase::Decode) {
        Ok(x) => Some(x),
        Err(e) => {
            notes.push(e.to_string());
            None
        }
    };
    let ppow = wall_power(pm, &loads, Phase::Prefill).ok();
    let jpt = dpow
        .as_ref()
        .and_then(|pw| energy_per_token(pw.wall, dec.rate));
    // Prompt tokens add their prefill energy to each generated token.
    let jpt = match (jpt, &ppow, &sp.prefill) {
        (Some(j), Some(pp), Some(pr_est)) if pr.input_per_output > 0.0 => {
            energy_per_token(pp.wall, pr_est.rate)
                .map(|jp| Joules(j.0 + jp.0 * pr.input_per_output))
        }
        (j, ..) => j,
    };
    let elec = jpt.map(|j| pr.kwh.per_million_tokens(j));
    let ram = req.hardware.ram;
    let system = price_set(set, ram, &pr.price_overrides, pr.price_date)?;
    let purchase = system.total_usd;
    if purchase.is_none() {
        notes.push(
            "purchase price: no sourced price for this system, so no ROI (give one with --price)"
                .into(),
        );
    } else if !system.missing.is_empty() {
        notes.push(format!(
            "purchase price: a lower bound, priced without {}",
            system.missing.join("; ")
        ));
    }
    let energy_usd = if pr.kwh.currency == "USD" { elec } else { None };
    if pr.kwh.currency != "USD" {
        notes.push(format!(
            "ROI needs USD: electricity is priced in {}, hardware and API in USD",
            pr.kwh.currency
        ));
    }
    let api_per_m = pr.api.per_million_generated(pr.input_per_output);
    let roi = roi(&RoiInput {
        purchase_usd: purchase,
        years: pr.years,
        tokens_per_day: pr.tokens_per_day,
        energy_usd_per_m: energy_usd,
        api_usd_per_m: api_per_m,
        capacity_tokens_per_day: dec.rate.0 * 86_400.0,
    })?;
    let rental = match (rental_per_hour(set, pr.price_date)?, energy_usd) {
        (Some((per_hour, rows)), energy) if dec.rate.0 > 0.0 => {
            let usd_per_m = per_hour / (dec.rate.0 * 3600.0) * 1e6;
            let be = match (&roi, energy) {
                (Some(r), Some(e)) => Some(break_even(
                    r.hardware_usd_per_day,
                    usd_per_m,
                    e,
                    dec.rate.0 * 86_400.0,
                )),
                _ => None,
            };
            Some(Rental {
                usd_per_hour: per_hour,
                usd_per_m,
                break_even: be,
                rows,
            })
        }
        _ => None,
    };
    Ok(PowerReport {
        system_price: Some(system),
        rental,
        heat_btu_per_hour: dpow.as_ref().map(|x| heat_btu_per_hour(x.wall)),
        psu: psu_size(pm, &loads),
        decode_power: dpow,
        prefill_power: ppow,
        joules_per_token: jpt,
        electricity_per_m: elec,
        purchase_usd: purchase,
        roi,
        api_usd_per_m: api_per_m,
        notes,
    })
}
