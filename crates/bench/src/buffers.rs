//! The memory a server says it allocated, next to canirun's prediction for
//! the same device and part.
//!
//! llama.cpp prints every buffer it allocates at load time; canirun starts
//! llama-server with `LLAMA_ARG_LOG_VERBOSITY=4` (the library's INFO lines
//! map to the server's trace level, `common/log.cpp`) and reads these lines
//! from its log. The format strings, in the llama.cpp canirun builds
//! (0c1e57098):
//!
//! - `src/llama-model.cpp`: `"%s: %12s model buffer size = %8.2f MiB\n"`
//!   (`CPU_Mapped`, `CPU`, `CUDA0`, `CPU_REPACK`, …: the buffer's name);
//! - `src/llama-kv-cache.cpp`: `"%s: %10s KV buffer size = %8.2f MiB\n"`
//!   (one per cache: a model with sliding-window layers has two);
//! - `src/llama-memory-recurrent.cpp`: `"%s: %10s RS buffer size = %8.2f MiB\n"`
//!   (recurrent state, which canirun counts in its KV part);
//! - `src/llama-context.cpp`: `"%s: %10s compute buffer size = %8.2f MiB\n"`
//!   (the buffer type's name: `CPU`, `CUDA0`, `CUDA_Host`) and
//!   `"%s: %10s  output buffer size = %8.2f MiB\n"`.
//!
//! NVML's per-process figure (a started server on an NVIDIA GPU) is compared
//! with the device's whole prediction: the driver counts the CUDA context
//! too, which canirun's buffers do not.

use canirun_core::pipeline::Report;
use canirun_core::placement::Loc;
use canirun_core::units::Bytes;
use serde::Serialize;

/// Which part of the memory a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Model weights (`model buffer size`, not the repack copy).
    Weights,
    /// llama.cpp's CPU_REPACK copy of matmul weights (x86 with AVX2).
    Repack,
    /// KV cache, with a recurrent model's state.
    Kv,
    /// Compute buffer.
    Compute,
    /// Output (logits) buffer.
    Output,
    /// Everything the process holds on the device, as the driver (NVML) counts it.
    Total,
}

impl Part {
    /// The part as the table prints it.
    pub fn label(self) -> &'static str {
        match self {
            Part::Weights => "weights",
            Part::Repack => "repack copy",
            Part::Kv => "KV",
            Part::Compute => "compute",
            Part::Output => "output",
            Part::Total => "total (NVML)",
        }
    }
}

/// One buffer as the server named and sized it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Buffer {
    /// llama.cpp's name for the buffer or buffer type (`CPU_Mapped`, `CUDA0`).
    pub name: String,
    /// What it holds.
    pub part: Part,
    /// Its size (llama.cpp prints MiB with two decimals).
    pub size: Bytes,
}

/// The keyword that follows a buffer's name on each line, and the part.
const LINES: [(&str, Part); 5] = [
    (" model buffer size = ", Part::Weights),
    (" KV buffer size = ", Part::Kv),
    (" RS buffer size = ", Part::Kv),
    (" compute buffer size = ", Part::Compute),
    ("  output buffer size = ", Part::Output),
];

/// The buffers of the last model load in a llama.cpp log: a model buffer
/// line after other buffers starts a new load (a server that reloads).
pub fn parse_llama_log(log: &str) -> Vec<Buffer> {
    let mut out: Vec<Buffer> = Vec::new();
    for line in log.lines() {
        let Some((key, part)) = LINES.iter().find(|(k, _)| line.contains(k)) else {
            continue;
        };
        let (head, tail) = line.split_once(key).unwrap_or_default();
        let Some(name) = head.split_whitespace().last() else {
            continue;
        };
        let Some(mib) = tail
            .trim()
            .strip_suffix("MiB")
            .and_then(|v| v.trim().parse::<f64>().ok())
        else {
            continue;
        };
        let part = match (*part, name) {
            (Part::Weights, n) if n.ends_with("_REPACK") => Part::Repack,
            (p, _) => p,
        };
        if part == Part::Weights && out.iter().any(|b| b.part != Part::Weights) {
            out.clear();
        }
        out.push(Buffer {
            name: name.to_string(),
            part,
            size: Bytes((mib * (1u64 << 20) as f64).round() as u64),
        });
    }
    out
}

/// The memory pool a llama.cpp buffer name belongs to: the CPU for `CPU…`
/// and host buffers (`CUDA_Host`: pinned system memory), else the
/// accelerator its trailing number names (`CUDA1`, `ROCm0`, `Vulkan0`;
/// `Metal` without one is the first).
pub fn pool_of(name: &str) -> Loc {
    if name.starts_with("CPU") || name.ends_with("_Host") {
        return Loc::Cpu;
    }
    let digits = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<String>();
    let n = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    Loc::Gpu(n)
}

/// What one process holds on one GPU, as the driver counts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuUse {
    /// The GPU's index (NVML's, which is CUDA's order by PCI bus).
    pub index: u32,
    /// Memory the process holds there.
    pub used: Bytes,
}

/// One part of one pool: what the server said next to what canirun predicted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryRow {
    /// canirun's pool (`CPU`, `GPU0`).
    pub pool: String,
    /// The server's buffer names summed into it.
    pub buffers: String,
    /// The part.
    pub part: Part,
    /// What the server reported.
    pub measured: Bytes,
    /// What canirun predicted for the same pool and part.
    pub predicted: Option<Bytes>,
    /// (predicted − measured) ÷ measured.
    pub error: Option<f64>,
}

/// Sum `buffers` per pool and part and put canirun's figure for the same
/// pool and part next to each (`report`: the prediction for the command;
/// `gpus`: NVML's per-process figures, compared with a device's total).
pub fn compare(buffers: &[Buffer], gpus: &[GpuUse], report: Option<&Report>) -> Vec<MemoryRow> {
    let mut sums: Vec<(Loc, Part, Vec<String>, Bytes)> = Vec::new();
    let mut add = |loc: Loc, part: Part, name: String, size: Bytes| match sums
        .iter_mut()
        .find(|s| s.0 == loc && s.1 == part)
    {
        Some(s) => {
            if !s.2.contains(&name) {
                s.2.push(name);
            }
            s.3 += size;
        }
        None => sums.push((loc, part, vec![name], size)),
    };
    for b in buffers {
        add(pool_of(&b.name), b.part, b.name.clone(), b.size);
    }
    for g in gpus {
        add(
            Loc::Gpu(g.index as usize),
            Part::Total,
            "NVML".into(),
            g.used,
        );
    }
    sums.sort_by_key(|s| (s.0 != Loc::Cpu, format!("{}", s.0), s.1));
    sums.into_iter()
        .map(|(loc, part, names, measured)| {
            let predicted = report.and_then(|r| predicted(r, loc, part));
            MemoryRow {
                pool: loc.to_string(),
                buffers: names.join(" + "),
                part,
                measured,
                predicted,
                error: predicted
                    .filter(|_| measured.0 > 0)
                    .map(|p| (p.0 as f64 - measured.0 as f64) / measured.0 as f64),
            }
        })
        .collect()
}

/// canirun's figure for one pool and part of a report.
fn predicted(r: &Report, loc: Loc, part: Part) -> Option<Bytes> {
    if part == Part::Repack {
        return (loc == Loc::Cpu)
            .then(|| r.memory.as_ref().map(|m| m.cpu_repack))
            .flatten();
    }
    let d = r
        .placement
        .as_ref()?
        .devices
        .iter()
        .find(|d| d.loc == loc)?;
    Some(match part {
        Part::Weights => d.weights,
        Part::Kv => d.kv,
        Part::Compute => d.compute,
        Part::Output => d.output,
        Part::Total => d.total(),
        Part::Repack => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines from llama-server (0c1e57098, `LLAMA_ARG_LOG_VERBOSITY=4`)
    /// serving Gemma-3-270M Q4_K_M with `-c 1024 -t 1` on this CPU.
    const GEMMA_LOG: &str = "\
0.06.088.246 I load_tensors:   CPU_Mapped model buffer size =   235.16 MiB
0.06.088.261 I load_tensors:   CPU_REPACK model buffer size =    12.66 MiB
0.06.182.267 I llama_context:        CPU  output buffer size =     4.00 MiB
0.06.182.270 I llama_kv_cache_iswa: creating non-SWA KV cache, size = 1024 cells
0.06.182.302 I llama_kv_cache:        CPU KV buffer size =     3.00 MiB
0.06.182.583 I llama_kv_cache: size =    3.00 MiB (  1024 cells,   3 layers,  4/1 seqs), K (f16):    1.50 MiB, V (f16):    1.50 MiB
0.06.182.586 I llama_kv_cache_iswa: creating     SWA KV cache, size = 1024 cells
0.06.182.637 I llama_kv_cache:        CPU KV buffer size =    15.00 MiB
0.06.224.191 I llama_kv_cache: size =   15.00 MiB (  1024 cells,  15 layers,  4/1 seqs), K (f16):    7.50 MiB, V (f16):    7.50 MiB
0.06.227.306 I sched_reserve:        CPU compute buffer size =    19.77 MiB
";

    fn mib(x: f64) -> Bytes {
        Bytes((x * (1u64 << 20) as f64).round() as u64)
    }

    #[test]
    fn reads_every_buffer_of_a_real_log() {
        let b = parse_llama_log(GEMMA_LOG);
        let got: Vec<(&str, Part, Bytes)> = b
            .iter()
            .map(|b| (b.name.as_str(), b.part, b.size))
            .collect();
        assert_eq!(
            got,
            vec![
                ("CPU_Mapped", Part::Weights, mib(235.16)),
                ("CPU_REPACK", Part::Repack, mib(12.66)),
                ("CPU", Part::Output, mib(4.0)),
                ("CPU", Part::Kv, mib(3.0)),
                ("CPU", Part::Kv, mib(15.0)),
                ("CPU", Part::Compute, mib(19.77)),
            ]
        );
    }

    #[test]
    fn sums_per_pool_and_part_without_a_prediction() {
        let rows = compare(&parse_llama_log(GEMMA_LOG), &[], None);
        let kv = rows.iter().find(|r| r.part == Part::Kv).unwrap();
        assert_eq!(kv.measured, mib(3.0) + mib(15.0));
        assert_eq!(kv.pool, "CPU");
        assert_eq!(kv.buffers, "CPU");
        assert_eq!(kv.predicted, None);
        assert_eq!(kv.error, None);
        assert_eq!(rows.len(), 5);
    }

    /// A CUDA log: the GPU's buffers go to GPU n, the host's to the CPU.
    #[test]
    fn gpu_and_host_buffers_go_to_their_pools() {
        let log = "\
load_tensors:        CUDA0 model buffer size =  4403.49 MiB
load_tensors:        CUDA1 model buffer size =  1000.00 MiB
load_tensors:   CPU_Mapped model buffer size =   292.36 MiB
llama_kv_cache:      CUDA0 KV buffer size =   448.00 MiB
sched_reserve:      CUDA0 compute buffer size =   304.00 MiB
sched_reserve:  CUDA_Host compute buffer size =    23.01 MiB
";
        let b = parse_llama_log(log);
        assert_eq!(b.len(), 6);
        assert_eq!(pool_of("CUDA1"), Loc::Gpu(1));
        assert_eq!(pool_of("CUDA_Host"), Loc::Cpu);
        assert_eq!(pool_of("Metal"), Loc::Gpu(0));
        let rows = compare(
            &b,
            &[GpuUse {
                index: 0,
                used: mib(5300.0),
            }],
            None,
        );
        let pools: Vec<(&str, Part)> = rows.iter().map(|r| (r.pool.as_str(), r.part)).collect();
        assert_eq!(
            pools,
            vec![
                ("CPU", Part::Weights),
                ("CPU", Part::Compute),
                ("GPU0", Part::Weights),
                ("GPU0", Part::Kv),
                ("GPU0", Part::Compute),
                ("GPU0", Part::Total),
                ("GPU1", Part::Weights),
            ]
        );
    }

    /// A second load in the same log replaces the first one's buffers.
    #[test]
    fn a_reload_starts_over() {
        let log = format!("{GEMMA_LOG}{GEMMA_LOG}");
        assert_eq!(parse_llama_log(&log).len(), 6);
    }
}
