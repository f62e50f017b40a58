//! Power, energy per token, electricity and the return on buying the
//! hardware instead of paying an API, for a setup whose speed is estimated.

use super::{Request, SpeedReport};
use crate::cost::{
    energy_per_token, heat_btu_per_hour, loads_for, psu_size, roi, wall_power, ApiPrice, CostError,
    KwhPrice, Phase, PowerEstimate, PowerModel, Roi, RoiInput,
};
use crate::hardware::DeviceKind;
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
    /// Purchase price of the devices, USD.
    pub purchase_usd: Option<f64>,
    /// Cost per token against the API.
    pub roi: Option<Roi>,
    /// API price per million generated tokens, USD.
    pub api_usd_per_m: f64,
    /// Caveats.
    pub notes: Vec<String>,
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
    let purchase: Option<f64> = set
        .devices
        .iter()
        .map(|(d, n)| d.price_usd.map(|p| p * f64::from(*n)))
        .sum();
    match purchase {
        None => notes.push("purchase price: not in the catalog for this device, so no ROI".into()),
        Some(_) if set.devices.iter().any(|(d, _)| d.kind == DeviceKind::Gpu) => {
            notes.push("purchase price: GPUs only, the host PC is not included".into())
        }
        Some(_) => {}
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
    Ok(PowerReport {
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
