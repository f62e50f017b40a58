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
