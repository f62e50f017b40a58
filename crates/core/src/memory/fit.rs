//! A first verdict from a memory breakdown and the memory on hand: does it
//! fit on the GPU, fit with part of it in system RAM, or not fit at all.
//! The detailed per-device placement builds on this.

use super::MemoryBreakdown;
use crate::quant::Weights;
use crate::units::Bytes;
use serde::Serialize;

/// The answer to "can I run it?".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Everything fits in GPU memory (or, CPU-only, in RAM).
    Fits {
        /// Memory left over.
        headroom: Bytes,
    },
    /// The GPU holds `gpu_layers` of the blocks; the rest run from system RAM.
    FitsOffloaded {
        /// Blocks on the GPU (llama.cpp `-ngl`).
        gpu_layers: u64,
        /// Blocks in total.
        n_layer: u64,
        /// Bytes that stay in system RAM.
        in_ram: Bytes,
    },
    /// Neither the GPU nor GPU + RAM hold it.
    DoesNotFit {
        /// Memory missing.
        short_by: Bytes,
    },
    /// No memory size was given.
    Unknown,
}

/// Bytes llama.cpp keeps in host memory even when every block is on the GPU:
/// the token embedding (its input layer is never offloaded; the 32B's
/// "CPU_Mapped model buffer size = 417.66 MiB" in llama.cpp#11861 is exactly it)
/// and the output buffer (pinned host memory).
pub fn host_resident(b: &MemoryBreakdown, w: &Weights) -> Bytes {
    let embd: Bytes = w
        .tensors
        .iter()
        .filter(|t| t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight")
        .map(|t| t.bytes)
        .sum();
    embd + b.output.bytes
}

/// Decide with `vram` of GPU memory and `ram` of system memory (either may be absent).
///
/// On a GPU the token embedding and the output buffer stay in host memory
/// ([`host_resident`]). With partial offload llama.cpp also keeps the output
/// head on the CPU unless every block is offloaded, and offloads blocks from
/// the last one backwards; each offloaded block brings its KV rows along.
pub fn verdict(
    b: &MemoryBreakdown,
    w: &Weights,
    n_layer: u64,
    vram: Option<Bytes>,
    ram: Option<Bytes>,
) -> Verdict {
    let total = b.total();
    let host = host_resident(b, w);
    if let (Some(vram), true) = (vram, ram.is_none_or(|r| host <= r)) {
        let on_gpu = total - host;
        if on_gpu <= vram {
            return Verdict::Fits {
                headroom: vram - on_gpu,
            };
        }
    }
    match (vram, ram) {
        (None, None) => Verdict::Unknown,
        (None, Some(ram)) => {
            if total <= ram {
                Verdict::Fits {
                    headroom: ram - total,
                }
            } else {
                Verdict::DoesNotFit {
                    short_by: total - ram,
                }
            }
        }
        (Some(vram), ram) => {
            if total <= vram {
                return Verdict::Fits {
                    headroom: vram - total,
                };
            }
            let Some(ram) = ram else {
                return Verdict::DoesNotFit {
                    short_by: total - vram,
                };
            };
            if total > vram + ram {
                return Verdict::DoesNotFit {
                    short_by: total - (vram + ram),
                };
            }
            // Fixed GPU costs first, then whole blocks from the back.
            let kv_per_layer = Bytes(b.kv.bytes.0 / n_layer.max(1));
            let fixed = b.compute.bytes + b.overhead.bytes;
            let mut used = fixed;
            let mut gpu_layers = 0;
            let per_layer = w.per_layer(n_layer);
            for il in (0..n_layer).rev() {
                let need = per_layer[il as usize] + kv_per_layer;
                if used + need > vram {
                    break;
                }
                used += need;
                gpu_layers += 1;
            }
            Verdict::FitsOffloaded {
                gpu_layers,
                n_layer,
                in_ram: total.saturating_sub(used),
            }
        }
    }
}
