//! The answer to "can I run it?", read off a placement: everything on the
//! accelerators, part of it in system RAM, or not at all.

use crate::placement::{Loc, Placement};
use crate::units::Bytes;
use serde::Serialize;

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every block and the output head on the accelerators (or, CPU-only, in RAM), with room.
    Fits {
        /// Memory left on the tightest pool.
        headroom: Bytes,
    },
    /// It runs, with some weights in system RAM (slower).
    FitsOffloaded {
        /// Blocks on the accelerators.
        gpu_layers: u64,
        /// Blocks in total.
        n_layer: u64,
        /// Weight bytes in system RAM (the embedding always is; counted here only beyond it).
        in_ram: Bytes,
    },
    /// Some pool lacks memory.
    DoesNotFit {
        /// The largest shortfall.
        short_by: Bytes,
        /// The pool that lacks it.
        pool: String,
    },
    /// No memory size is known.
    Unknown,
}

/// Judge a placement. `embedding` is the token embedding, which llama.cpp keeps in
/// RAM even with everything offloaded, so it does not make a fit "partial".
pub fn verdict(p: &Placement, n_layer: u64, embedding: Bytes) -> Verdict {
    if p.devices.iter().all(|d| d.capacity.is_none()) {
        return Verdict::Unknown;
    }
    if let Some((loc, short)) = p.short().into_iter().max_by_key(|(_, b)| *b) {
        let pool = p
            .devices
            .iter()
            .find(|d| d.loc == loc)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| loc.to_string());
        return Verdict::DoesNotFit {
            short_by: short,
            pool,
        };
    }
    let has_gpu = p.devices.iter().any(|d| d.loc != Loc::Cpu);
    let host_weights = p.devices[0].weights;
    let all_on_gpu = p.gpu_layers() as u64 == n_layer
        && p.output_loc != Loc::Cpu
        && p.experts_on_cpu == Bytes::ZERO;
    if !has_gpu || all_on_gpu {
        let headroom = p
            .devices
            .iter()
            .filter(|d| !has_gpu || d.loc != Loc::Cpu)
            .filter_map(|d| d.free())
            .min()
            .unwrap_or(0)
            .max(0) as u64;
        Verdict::Fits {
            headroom: Bytes(headroom),
        }
    } else {
        Verdict::FitsOffloaded {
            gpu_layers: p.gpu_layers() as u64,
            n_layer,
            in_ram: host_weights.saturating_sub(embedding),
        }
    }
}
