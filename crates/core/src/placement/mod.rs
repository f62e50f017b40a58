//! Where every tensor and KV row lives, device by device, as the engine
//! would place them; and whether each device has room. One file per engine.

pub mod llama_cpp;

use crate::memory::Backend;
use crate::units::Bytes;
use serde::Serialize;
use std::fmt;

/// A memory pool: the host (CPU RAM) or one accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loc {
    /// System RAM.
    Cpu,
    /// Accelerator number `n` (CUDA0, CUDA1, …).
    Gpu(usize),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Cpu => f.pad("CPU"),
            Loc::Gpu(i) => f.pad(&format!("GPU{i}")),
        }
    }
}

/// An accelerator to place onto.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceSpec {
    /// Display name.
    pub name: String,
    /// Memory free for the model.
    pub memory: Bytes,
    /// Its backend.
    pub backend: Backend,
}

/// What one memory pool holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceUse {
    /// Which pool.
    pub loc: Loc,
    /// Its name.
    pub name: String,
    /// Weights placed here.
    pub weights: Bytes,
    /// Of which routed experts (read only for the active ones).
    pub experts: Bytes,
    /// Of which the token embedding (a row lookup, not read per token).
    pub embedding: Bytes,
    /// KV cache rows placed here.
    pub kv: Bytes,
    /// Compute buffer reserved here.
    pub compute: Bytes,
    /// Output buffer (host only).
    pub output: Bytes,
    /// Fixed runtime overhead.
    pub overhead: Bytes,
    /// Models the command loads beside this one (a draft model's weights, KV
    /// and compute, a vision projector), placed here; see
    /// `pipeline::Companions`.
    #[serde(skip_serializing_if = "is_zero")]
    pub companions: Bytes,
    /// Memory available (None: unknown).
    pub capacity: Option<Bytes>,
    /// Blocks whose attention runs here.
    pub layers: Vec<u64>,
}

fn is_zero(b: &Bytes) -> bool {
    b.0 == 0
}

impl DeviceUse {
    /// A pool with nothing placed on it yet but its fixed `overhead`.
    pub fn empty(loc: Loc, name: String, overhead: Bytes, capacity: Option<Bytes>) -> DeviceUse {
        DeviceUse {
            loc,
            name,
            weights: Bytes::ZERO,
            experts: Bytes::ZERO,
            embedding: Bytes::ZERO,
            kv: Bytes::ZERO,
            compute: Bytes::ZERO,
            output: Bytes::ZERO,
            overhead,
            companions: Bytes::ZERO,
            capacity,
            layers: vec![],
        }
    }

    /// Everything placed here.
    pub fn total(&self) -> Bytes {
        self.weights + self.kv + self.compute + self.output + self.overhead + self.companions
    }

    /// Memory left (negative: short), when the capacity is known.
    pub fn free(&self) -> Option<i128> {
        self.capacity.map(|c| c.0 as i128 - self.total().0 as i128)
    }
}

/// The result of placing a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    /// Host first, then each accelerator.
    pub devices: Vec<DeviceUse>,
    /// Where each block lives (`n_layer` entries).
    pub layer_loc: Vec<Loc>,
    /// Where the output head lives.
    pub output_loc: Loc,
    /// Bytes of routed-expert weights in system RAM (they run at RAM speed).
    pub experts_on_cpu: Bytes,
    /// The llama.cpp flags that produce this placement, typed; see [`Placement::flags_line`].
    /// Serialized as `flags`, the rendered list.
    #[serde(rename = "flags", serialize_with = "rendered_flags")]
    pub llama: llama_cpp::LlamaFlags,
    /// Caveats.
    pub notes: Vec<String>,
}

/// The flags as llama.cpp's renderer writes them (JSON keeps its `flags` list).
fn rendered_flags<S: serde::Serializer>(
    f: &llama_cpp::LlamaFlags,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(crate::commands::llama_cpp::flag_strings(f))
}

impl Placement {
    /// Whether llama.cpp pipelines micro-batches across this placement's
    /// GPUs ([`llama_cpp::pipeline_parallel`]) for a model of `n_layer` blocks.
    pub fn pipeline_parallel(&self, n_layer: u64) -> bool {
        let n_gpu = self.devices.iter().filter(|d| d.loc != Loc::Cpu).count();
        let ngl = self.llama.ngl.unwrap_or(n_layer + 1);
        llama_cpp::pipeline_parallel(n_gpu, ngl, n_layer, &self.llama.args)
    }

    /// Whether every pool with a known capacity has room.
    pub fn fits(&self) -> bool {
        self.devices.iter().all(|d| d.free().is_none_or(|f| f >= 0))
    }

    /// Pools that do not have room, with how much they lack.
    pub fn short(&self) -> Vec<(Loc, Bytes)> {
        self.devices
            .iter()
            .filter_map(|d| match d.free() {
                Some(f) if f < 0 => Some((d.loc, Bytes((-f) as u64))),
                _ => None,
            })
            .collect()
    }

    /// The llama.cpp flags, one with its value per item (`-ngl 62`, `--cpu-moe`),
    /// raw (not shell-quoted), as llama.cpp's command renderer writes them.
    pub fn flags(&self) -> Vec<String> {
        crate::commands::llama_cpp::flag_strings(&self.llama)
    }

    /// The llama.cpp flags on one line, for display (empty when there are none).
    pub fn flags_line(&self) -> String {
        self.flags().join(" ")
    }

    /// Number of blocks on accelerators.
    pub fn gpu_layers(&self) -> usize {
        self.layer_loc.iter().filter(|l| **l != Loc::Cpu).count()
    }
}
