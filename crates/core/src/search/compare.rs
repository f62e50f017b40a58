//! Setups side by side (`canirun compare`): one report of the pipeline per
//! setup, with power and cost, and the API's price as one more column.

use crate::cost::{self, KwhPrice};
use crate::hardware::Target;
use crate::memory::{Backend, RunSettings};
use crate::pipeline::{estimate, EstimateError, Model, PowerReport, PowerRequest, Report, Request};
use crate::units::{Bytes, TokensPerSecond};
use serde::Serialize;

/// Where the API prices come from.
pub const API_SOURCE: &str = "DeepSeek API deepseek-reasoner (R1), api-docs.deepseek.com/quick_start/pricing-details-usd, R1-era snapshot (crates/core/data/prices.csv)";

/// One local setup's column: the name as given and its report.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// The hardware as the user named it.
    pub input: String,
    /// The pipeline's report, with power and cost.
    pub report: Report,
}

impl Setup {
    /// Power, energy and cost (always asked for here).
    pub fn power(&self) -> Option<&PowerReport> {
        self.report.power.as_ref()
    }

    /// Decode speed on an empty context (0 when not estimated).
    pub fn decode(&self) -> TokensPerSecond {
        let sp = self.report.speed.report();
        sp.map(|s| s.decode_first().rate).unwrap_or_default()
    }

    /// Prefill speed (0 when not estimated).
    pub fn prefill(&self) -> TokensPerSecond {
        let sp = self.report.speed.report();
        sp.and_then(|s| s.prefill.as_ref().map(|p| p.rate))
            .unwrap_or_default()
    }

    /// The memory of every pool together (0 when unknown).
    pub fn capacity(&self) -> Bytes {
        let p = self.report.placement.as_ref();
        p.map(|p| p.devices.iter().filter_map(|d| d.capacity).sum())
            .unwrap_or_default()
    }
}

/// The API column.
#[derive(Debug, Clone, Serialize)]
pub struct Api {
    /// USD per million input tokens.
    pub input_per_m: f64,
    /// USD per million output tokens.
    pub output_per_m: f64,
    /// USD per million generated tokens, input included at the request's ratio.
    pub usd_per_m_generated: f64,
    /// Where the prices come from.
    pub source: &'static str,
}

/// The whole comparison (`canirun compare --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// JSON schema version.
    pub schema: u32,
    /// Model name.
    pub model: String,
    /// Quantization.
    pub quant: String,
    /// Context every setup must hold.
    pub ctx: u64,
    /// Electricity price.
    pub kwh_price: KwhPrice,
    /// Amortisation period, years.
    pub years: f64,
    /// Generated tokens per day.
    pub tokens_per_day: f64,
    /// Prompt tokens per generated token.
    pub input_per_output: f64,
    /// The local setups, in the order given.
    pub setups: Vec<Setup>,
    /// The API column, when asked.
    pub api: Option<Api>,
    /// How power and cost are computed.
    pub method: String,
}

/// Run `model` on each named setup with `settings` (the backend each setup's
/// own unless `backend` is given), a `prompt`-token prompt and the power
/// request `pr`; add the API column when `api`.
pub fn compare(
    model: &Model,
    settings: &RunSettings,
    backend: Option<Backend>,
    prompt: u64,
    pr: &PowerRequest,
    setups: &[(String, Target)],
    api: bool,
) -> Result<Comparison, EstimateError> {
    let setups = setups
        .iter()
        .map(|(input, hw)| {
            let settings = RunSettings {
                backend: backend.unwrap_or(hw.backend),
                ..settings.clone()
            };
            let mut req = Request::new(model, hw, settings);
            req.workload.prompt = prompt;
            req.power = Some(pr.clone());
            Ok(Setup {
                input: input.clone(),
                report: estimate(&req)?,
            })
        })
        .collect::<Result<_, EstimateError>>()?;
    Ok(Comparison {
        schema: crate::pipeline::SCHEMA,
        model: model.spec.name.clone(),
        quant: model.quant_label.clone(),
        ctx: settings.n_ctx,
        kwh_price: pr.kwh.clone(),
        years: pr.years,
        tokens_per_day: pr.tokens_per_day,
        input_per_output: pr.input_per_output,
        setups,
        api: api.then(|| Api {
            input_per_m: pr.api.input_per_m,
            output_per_m: pr.api.output_per_m,
            usd_per_m_generated: pr.api.per_million_generated(pr.input_per_output),
            source: API_SOURCE,
        }),
        method: cost::PowerModel::embedded()
            .map(cost::PowerModel::method)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Catalog;
    use crate::model::MlaTensorLayout;

    #[test]
    fn each_column_is_the_pipelines_report() {
        let m =
            Model::from_catalog("deepseek-r1:32b", None, false, MlaTensorLayout::Split).unwrap();
        let cat = Catalog::embedded().unwrap();
        let setups: Vec<(String, Target)> = ["4090", "m2-ultra-192"]
            .iter()
            .map(|n| (n.to_string(), Target::named(cat, &[*n], None).unwrap()))
            .collect();
        let pr = PowerRequest::defaults().unwrap();
        let s = RunSettings::default();
        let c = compare(&m, &s, None, 1000, &pr, &setups, true).unwrap();
        assert_eq!(c.setups.len(), 2);
        for (col, (_, hw)) in c.setups.iter().zip(&setups) {
            let mut req = Request::new(
                &m,
                hw,
                RunSettings {
                    backend: hw.backend,
                    ..s.clone()
                },
            );
            req.power = Some(pr.clone());
            let r = estimate(&req).unwrap();
            assert_eq!(col.report.memory_total, r.memory_total);
            assert_eq!(col.decode(), r.speed.report().unwrap().decode_first().rate);
            assert!(col.capacity() > Bytes::ZERO);
        }
        let api = c.api.unwrap();
        assert!(api.usd_per_m_generated >= api.output_per_m);
    }
}
