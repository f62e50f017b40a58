//! `canirun validate cluster`: the published multi-node rows of the
//! benchmark CSVs (llama.cpp RPC, exo, vLLM/SGLang over several nodes)
//! against the cluster speed model. Each row is read exactly as `validate
//! speed` reads it (same placement, same calibration); the cluster model
//! then puts the network between the hosts: one RPC hop per host boundary
//! (the calibrated `hop_latency_s` plus the network's latency, the hidden
//! state over its bandwidth) instead of a local PCIe link.

use crate::cluster::Interconnect;
use crate::speed::benchmarks::{prepare_files, BenchError, Prepared};
use crate::speed::{Calibration, Link};
use crate::units::Seconds;
use serde::Serialize;

/// One published multi-node row.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    /// Hardware | model | quant | test, as `validate speed` names it.
    pub what: String,
    /// The engine cell.
    pub engine: String,
    /// Published tokens per second.
    pub published: f64,
    /// `validate speed`'s prediction: the hosts as local devices on PCIe.
    pub local: f64,
    /// The cluster model's prediction: the hosts over `network`.
    pub cluster: f64,
    /// The network assumed.
    pub network: String,
}

impl ClusterRow {
    /// (cluster − published) ÷ published.
    pub fn error(&self) -> f64 {
        self.cluster / self.published - 1.0
    }
}

/// Whether a row is a published multi-node run.
fn is_multi_node(p: &Prepared) -> bool {
    let e = p.engine.to_ascii_lowercase();
    let w = p.what.to_ascii_lowercase();
    e.contains("rpc")
        || e.contains("exo")
        || w.contains("over llama.cpp rpc")
        || w.contains("nnodes")
        || w.contains("multi-node")
}

/// Compare every multi-node row of `files` with the cluster model over `net`
/// (the rows do not name their network; the caller says which is assumed).
pub fn compare(
    files: &[(&str, &str)],
    net: &Interconnect,
    cal: &Calibration,
) -> Result<Vec<ClusterRow>, BenchError> {
    let (rows, _) = prepare_files(files, cal)?;
    let mut out = Vec::new();
    for p in rows.into_iter().filter(is_multi_node) {
        let local = p.predict(cal);
        let mut q = p.clone();
        let hosts = q.placement.devices.len();
        q.placement.links = (1..hosts)
            .map(|i| Link {
                label: format!("RPC hop {} → {i} over {}", i - 1, net.id),
                bandwidth: net.bandwidth(),
                latency: Some(Seconds(cal.global.hop_latency_s + net.latency().0)),
                bytes_per_token: q.placement.model.hidden_bytes,
            })
            .collect();
        // RPC devices have no async copies: llama.cpp does not overlap micro-batches.
        q.placement.pipeline_parallel = false;
        let cluster = q.predict(cal);
        if let (Ok(local), Ok(cluster)) = (local, cluster) {
            out.push(ClusterRow {
                what: p.what.clone(),
                engine: p.engine.clone(),
                published: p.published,
                local,
                cluster,
                network: net.id.clone(),
            });
        }
    }
    Ok(out)
}

/// The published multi-node results (data/cluster_benchmarks.csv): vLLM and
/// SGLang on 2 × 8 GPUs, exo on Macs, with what each measured.
pub const CLUSTER_BENCHMARKS_CSV: &str = include_str!("../../data/cluster_benchmarks.csv");

/// One published multi-node figure, as data/cluster_benchmarks.csv gives it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PublishedRow {
    /// Short name.
    pub id: String,
    /// When it was published.
    pub date: String,
    /// Where the figure is, with the author's words.
    pub source: String,
    /// The cluster as the source describes it.
    pub hardware: String,
    /// The engine as the source names it.
    pub engine: String,
    /// The model as the source names it.
    pub model: String,
    /// The quantization as the source names it.
    pub quant: String,
    /// Launch and benchmark settings the source gives.
    pub settings: String,
    /// Requests in flight while measuring, as stated.
    pub concurrency: String,
    /// What the number is.
    pub measured: String,
    /// The figure, tokens per second.
    pub published_tok_s: f64,
    /// `compare`, `compare-unstated` or `skip`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Why it is skipped or flagged.
    pub reason: String,
    /// The catalog model canirun plans.
    pub canirun_model: String,
    /// Its quantization.
    pub canirun_quant: String,
    /// One node's hardware (catalog name).
    pub canirun_node: String,
    /// Nodes.
    pub nodes: Option<u32>,
    /// The network (data/interconnects.toml id).
    pub interconnect: String,
    /// `--engine`.
    pub canirun_engine: String,
    /// Tensor parallelism, when the source gives it.
    pub tp: Option<u64>,
    /// Pipeline parallelism, when the source gives it.
    pub pp: Option<u64>,
}

/// canirun's one-request decode for a published row.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// Decode on a short context, tokens per second.
    pub rate: f64,
    /// The low end of its range.
    pub low: f64,
    /// The high end of its range.
    pub high: f64,
    /// The split planned (`TP 16 × PP 1`).
    pub split: String,
    /// The network's share of one token's time.
    pub network_share: f64,
    /// Where canirun's plan disagrees with the published run beyond speed.
    pub note: Option<String>,
}

/// A published row next to canirun's plan for it, or why it is not compared.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedComparison {
    /// The row.
    pub row: PublishedRow,
    /// canirun's prediction, when compared.
    pub predicted: Option<Prediction>,
    /// Why there is no comparison (the row's reason, or canirun's).
    pub skipped: Option<String>,
}

impl PublishedComparison {
    /// (predicted − published) ÷ published.
    pub fn error(&self) -> Option<f64> {
        self.predicted
            .as_ref()
            .map(|p| p.rate / self.row.published_tok_s - 1.0)
    }

    /// Whether the published figure lies inside the predicted range.
    pub fn within_range(&self) -> Option<bool> {
        self.predicted
            .as_ref()
            .map(|p| p.low <= self.row.published_tok_s && self.row.published_tok_s <= p.high)
    }
}

/// Why the published table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    /// The CSV is malformed.
    #[error("cluster benchmarks: {0}")]
    Csv(#[from] csv::Error),
}

/// Context the comparisons plan for: the published runs used short prompts
/// (128 to a few thousand tokens), and decode is read on an empty context,
/// so the context only sizes memory.
const VALIDATE_CTX: u64 = 4096;

/// Read `text` (columns of data/cluster_benchmarks.csv) and plan every row
/// marked for comparison with canirun's cluster model.
pub fn compare_published(text: &str) -> Result<Vec<PublishedComparison>, PublishedError> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for r in rdr.deserialize::<PublishedRow>() {
        let row = r?;
        let (predicted, skipped) = if row.use_ == "skip" {
            (None, Some(row.reason.clone()))
        } else {
            match predict(&row) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(format!("canirun cannot plan it: {e}"))),
            }
        };
        out.push(PublishedComparison {
            row,
            predicted,
            skipped,
        });
    }
    Ok(out)
}

/// The cluster plan for one row, read at an empty context.
fn predict(row: &PublishedRow) -> Result<Prediction, String> {
    use crate::cluster::{interconnect, plan, ClusterEngine, ClusterRequest, SplitAsk};
    use crate::hardware::{resolve_set, Catalog, Target};
    use crate::memory::RunSettings;
    use crate::model::MlaTensorLayout;
    use crate::pipeline::{Model, Workload};
    let model = Model::from_catalog(
        &row.canirun_model,
        Some(&row.canirun_quant),
        false,
        MlaTensorLayout::Split,
    )
    .map_err(|e| e.to_string())?;
    let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
    let set = resolve_set(catalog, &[row.canirun_node.as_str()]).map_err(|e| e.to_string())?;
    let backend = Target::from_set(set.clone(), None)
        .map_err(|e| e.to_string())?
        .backend;
    let engine = ClusterEngine::parse(&row.canirun_engine)
        .ok_or_else(|| format!("no cluster engine '{}'", row.canirun_engine))?;
    let net = interconnect::find(&row.interconnect)?;
    let req = ClusterRequest {
        model: &model,
        settings: RunSettings {
            n_ctx: VALIDATE_CTX,
            backend,
            ..RunSettings::default()
        },
        engine,
        node: &set,
        nodes: row.nodes.ok_or("no node count")?,
        unlike: &[],
        interconnect: net,
        split: SplitAsk {
            tensor_parallel: row.tp,
            pipeline_parallel: row.pp.filter(|&p| p > 1),
            ..SplitAsk::default()
        },
        workload: Workload::default(),
        gpu_memory_utilization: crate::pipeline::ServerRun::default().gpu_memory_utilization,
    };
    let p = plan(&req).map_err(|e| e.to_string())?;
    let mut note = None;
    let deep;
    let s = match (&p.speed, &p.verdict) {
        (Some(s), _) => s,
        // The published run ran, so its memory sufficed: read the speed of
        // the same split anyway and say where the memory model disagrees.
        (None, crate::memory::verdict::Verdict::DoesNotFit { .. }) => {
            note = Some(format!(
                "canirun's memory model says {}; the published run fitted, so its speed is read anyway",
                p.verdict
            ));
            let cal = crate::speed::Calibration::embedded().map_err(|e| e.to_string())?;
            let mut flat = super::flat_target(&req).map_err(|e| e.to_string())?;
            flat.link = Some(net.bandwidth());
            let per_node = u64::from(set.count());
            let w = super::work_split(&req, &flat, p.split, per_node, &p.memory, cal)?;
            deep = super::read_speed(&req, w, cal)?;
            &deep
        }
        (None, _) => {
            return Err(p
                .speed_missing
                .clone()
                .unwrap_or_else(|| "no speed".to_string()))
        }
    };
    let d = &s.decode;
    let network: f64 = d
        .terms
        .iter()
        .filter(|t| t.label.starts_with("link "))
        .map(|t| t.seconds.0)
        .sum();
    Ok(Prediction {
        rate: d.rate.0,
        low: d.low.0,
        high: d.high.0,
        split: p.split.to_string(),
        note,
        network_share: if d.seconds.0 > 0.0 {
            network / d.seconds.0
        } else {
            0.0
        },
    })
}
