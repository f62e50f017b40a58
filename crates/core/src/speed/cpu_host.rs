//! How a CPU host runs llama.cpp, beyond its datasheet peaks: the threads a
//! run states (`-t`, `--threads-batch`), hybrid performance/efficient cores
//! (llama.cpp splits every matmul's rows evenly over its threads, so the
//! slowest thread sets the pace), the per-pair `vec_dot` prefill of builds
//! before llamafile's sgemm, and weights in pageable (mmap'd) memory that
//! llama.cpp uploads to a GPU for large batches. Data with sources in
//! `data/cpu_threads.toml`; no constant here is fitted.

use super::threads::{default_per_core_read, CpuThreads};
use super::{DeviceClass, DeviceRates, WorkSplit};
use crate::units::{Bytes, BytesPerSecond, FlopsPerSecond};
use serde::Deserialize;

/// A hybrid CPU's two kinds of cores (`[[hybrid]]` of `data/cpu_threads.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct HybridCores {
    /// The catalog id of the CPU platform.
    pub cpu: String,
    /// Performance cores (two hardware threads each).
    pub performance_cores: u32,
    /// Efficient cores (one hardware thread each).
    pub efficient_cores: u32,
    /// Performance-core all-core turbo clock, GHz.
    pub p_core_ghz: f64,
    /// Efficient-core turbo clock, GHz.
    pub e_core_ghz: f64,
    /// Int8 SIMD throughput of an efficient core per cycle, relative to a
    /// performance core (0.5: 128-bit pipes that split every 256-bit op).
    pub e_core_simd_share: f64,
    /// Where the figures come from.
    pub source: String,
}

#[derive(Debug, Deserialize)]
struct HybridToml {
    #[serde(default)]
    hybrid: Vec<HybridCores>,
}

/// The hybrid CPUs of the embedded `cpu_threads.toml`, each within physical
/// bounds (clocks 0.5–7 GHz, E-core share 0.25–1).
pub fn hybrid_table() -> &'static [HybridCores] {
    static T: std::sync::OnceLock<Vec<HybridCores>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        toml::from_str::<HybridToml>(super::threads::CPU_THREADS_TOML)
            .map(|t| t.hybrid)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| {
                h.performance_cores > 0
                    && (0.5..=7.0).contains(&h.p_core_ghz)
                    && (0.5..=7.0).contains(&h.e_core_ghz)
                    && (0.25..=1.0).contains(&h.e_core_simd_share)
            })
            .collect()
    })
}

/// The hybrid description of catalog CPU `id`, if it has one.
pub fn hybrid_of(id: &str) -> Option<&'static HybridCores> {
    hybrid_table()
        .iter()
        .find(|h| h.cpu.eq_ignore_ascii_case(id))
}

impl HybridCores {
    /// The int8 rate llama.cpp gets from `threads` threads (default: one per
    /// performance core, llama.cpp's `cpu_get_num_math`), with how it was
    /// reached. Threads fill the performance cores first, then the efficient
    /// cores, then the performance cores' second hardware threads (which
    /// halve their core's rate). llama.cpp hands every thread an equal share
    /// of each matmul's rows and waits at a barrier, so the whole runs at
    /// threads × the slowest thread's rate.
    pub fn int8_rate(
        &self,
        int8_ops_per_cycle: f64,
        threads: Option<u32>,
    ) -> (FlopsPerSecond, String) {
        let p = self.performance_cores;
        let e = self.efficient_cores;
        let t = threads.unwrap_or(p).clamp(1, 2 * p + e);
        let p_rate = int8_ops_per_cycle * self.p_core_ghz * 1e9;
        let e_rate = int8_ops_per_cycle * self.e_core_simd_share * self.e_core_ghz * 1e9;
        let (slowest, why) = if t <= p {
            (p_rate, "performance cores only".to_string())
        } else if t <= p + e {
            (p_rate.min(e_rate), format!("{} on efficient cores", t - p))
        } else {
            (
                (p_rate / 2.0).min(e_rate),
                format!(
                    "{e} on efficient cores, {} sharing a performance core with a second thread",
                    2 * (t - p - e)
                ),
            )
        };
        let rate = f64::from(t) * slowest;
        (
            FlopsPerSecond(rate),
            format!(
                "hybrid {p}P+{e}E: {t} threads ({why}) each take an equal share of the rows, so all run at the slowest thread's {:.0} Gop/s (P core {} GHz, E core {} GHz × {} SIMD share; cpu_threads.toml) = {:.2} TOPS",
                slowest / 1e9,
                self.p_core_ghz,
                self.e_core_ghz,
                self.e_core_simd_share,
                rate / 1e12
            ),
        )
    }
}

/// `-t` and `--threads-batch` as a calibration row's notes state them
/// ("--threads 32", "-t 8", "--threads-batch 56", "24 threads", "8 threads
/// best"): (threads, threads for batches). llama.cpp uses the batch threads
/// for prompt processing and `-t` for generation.
pub fn threads_in_notes(notes: &str) -> (Option<u32>, Option<u32>) {
    let toks: Vec<&str> = notes
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let num = |i: usize| {
        toks.get(i)
            .and_then(|t| t.trim_end_matches([')', '.']).parse::<u32>().ok())
            .filter(|n| (1..=4096).contains(n))
    };
    let (mut threads, mut batch) = (None, None);
    for (i, t) in toks.iter().enumerate() {
        match t.to_ascii_lowercase().as_str() {
            "-t" | "--threads" => threads = threads.or(num(i + 1)),
            "-tb" | "--threads-batch" => batch = batch.or(num(i + 1)),
            // "24 threads" in prose (not "16-32 threads", a range tried).
            "threads" if i > 0 => threads = threads.or(num(i - 1)),
            _ => {}
        }
    }
    (threads, batch)
}

#[derive(Debug, Deserialize)]
struct SeriesSimd {
    architecture_contains: String,
    simd: String,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
struct SeriesToml {
    #[serde(default)]
    series_simd: Vec<SeriesSimd>,
}

/// The SIMD extensions (a `cpu_simd.csv` match cell) every CPU of a core
/// generation has (`[[series_simd]]` of `data/cpu_threads.toml`), by the
/// catalog architecture cell (`"Threadripper PRO 7000WX (Storm Peak, Zen
/// 4)"`): a CPU read as its series' platform, with its cores stated but no
/// clock, gets its cores at this unit's rate instead of the typical
/// desktop's AVX2.
pub fn series_simd(architecture: Option<&str>) -> Option<&'static str> {
    static T: std::sync::OnceLock<Vec<SeriesSimd>> = std::sync::OnceLock::new();
    let a = architecture?.to_ascii_lowercase();
    T.get_or_init(|| {
        toml::from_str::<SeriesToml>(super::threads::CPU_THREADS_TOML)
            .map(|t| t.series_simd)
            .unwrap_or_default()
    })
    .iter()
    .find(|s| a.contains(&s.architecture_contains.to_ascii_lowercase()))
    .map(|s| s.simd.as_str())
}

/// What a calibration row says about its CPU host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRun {
    /// The threads that run this test (`--threads-batch` for a prompt test
    /// when given, else `-t`); `None`: llama.cpp's default.
    pub threads: Option<u32>,
    /// The build multiplies prompt batches through the per-pair `vec_dot`
    /// kernels ([`pre_sgemm_build`]).
    pub vec_dot_prefill: Option<String>,
}

/// `r` as llama.cpp runs it on a hybrid CPU (catalog platform `id` in
/// `[[hybrid]]`, `sockets` of them) with `threads` (`None`: llama.cpp's
/// default, the performance cores): compute at threads × the slowest
/// thread's int8 rate ([`HybridCores::int8_rate`]), reads capped at the busy
/// cores' streaming rate (`per_core_read`, else the catalog default; see
/// [`CpuThreads::apply`]). `None` when the CPU is not hybrid or its SIMD
/// unit has no int8 figure. The reason goes into `compute_note`.
pub fn hybrid_rates(
    r: &DeviceRates,
    id: &str,
    sockets: u32,
    int8_ops_per_cycle: Option<f64>,
    threads: Option<u32>,
    per_core_read: Option<BytesPerSecond>,
    bw_eff: f64,
) -> Option<DeviceRates> {
    let h = hybrid_of(id)?;
    let ops = int8_ops_per_cycle.filter(|o| *o > 0.0)?;
    if r.class != DeviceClass::Cpu || r.compute.is_none() {
        return None;
    }
    let (rate, how) = h.int8_rate(ops, threads);
    let mut r = r.clone();
    r.compute = Some(FlopsPerSecond(rate.0 * f64::from(sockets.max(1))));
    r.compute_note = Some(match r.compute_note.take() {
        Some(n) => format!("{n}; {how}"),
        None => how,
    });
    // Reads: the busy cores' streaming rate (both kinds read alike).
    let busy = threads
        .unwrap_or(h.performance_cores)
        .min(h.performance_cores + h.efficient_cores);
    Some(
        CpuThreads {
            cores: busy,
            threads: Some(busy),
            per_core_read,
        }
        .apply(r, bw_eff),
    )
}

/// The CPU host `r` of a calibration row (a catalog platform `id`,
/// `sockets` of them, `cores` physical cores each) as llama.cpp runs it with
/// `run`: hybrid cores ([`hybrid_rates`]), else the stated threads (compute
/// of the busy cores, reads capped at their streaming rate), and the
/// pre-sgemm prefill. `bw_eff` is the CPU class's fitted bandwidth
/// efficiency (for the read cap). Each adjustment is stated in the device's
/// `compute_note`, which `--explain` prints.
pub fn apply_host_run(
    mut r: DeviceRates,
    id: &str,
    sockets: u32,
    cores: Option<u32>,
    int8_ops_per_cycle: Option<f64>,
    run: &HostRun,
    bw_eff: f64,
) -> DeviceRates {
    if r.class != DeviceClass::Cpu {
        return r;
    }
    let sockets = sockets.max(1);
    if let Some(h) = hybrid_rates(
        &r,
        id,
        sockets,
        int8_ops_per_cycle,
        run.threads,
        None,
        bw_eff,
    ) {
        r = h;
    } else if let (Some(c), Some(_)) = (cores, run.threads) {
        r = CpuThreads {
            cores: c * sockets,
            threads: run.threads,
            per_core_read: None,
        }
        .apply(r, bw_eff);
    }
    if let (Some(why), Some(c)) = (&run.vec_dot_prefill, r.compute) {
        r.compute = Some(FlopsPerSecond(c.0 / VEC_DOT_SLOWDOWN));
        let text = format!(
            "pre-sgemm build ({why}): prompt matmuls through the per-pair vec_dot kernels at 1/{VEC_DOT_SLOWDOWN} of the tiled rate"
        );
        r.compute_note = Some(match r.compute_note.take() {
            Some(n) => format!("{n}; {text}"),
            None => text,
        });
    }
    r
}

/// How much slower llama.cpp's CPU prompt processing ran before llamafile's
/// tiled sgemm kernels (PR #6414, "Improve cpu prompt eval speed", merged
/// 2024-04-16): every output element was one `vec_dot` of a weight row with
/// one token's activations, unpacking the quantized block and converting its
/// scales again for every token, where the tiled kernels reuse each unpacked
/// block over several tokens and rows. The PR's review measured the GEMM
/// "almost 2x faster" at a 512-token batch (ggerganov, 2024-04-16), and
/// jart's description gives ~1.4x end to end for Q4_0/Q8_0; 2 is the
/// matmul ratio at the batch size llama-bench's pp512 uses. Later CPU
/// repacking (Q4_0 8×8 interleaving) made current builds faster still, so
/// this is a lower bound on the gap to the fitted current-build rate.
pub const VEC_DOT_SLOWDOWN: f64 = 2.0;

/// llama.cpp build numbers at or after this one have llamafile's sgemm:
/// PR #6414 was merged on 2024-04-16, and build 2751 (2024-04-27, the build
/// llama.cpp PR #6928's log shows running `sgemm.cpp`) already has it. No
/// calibration row has a build between 2700 and 2751, so the exact cut
/// moves no row.
pub const SGEMM_BUILD: u32 = 2700;

/// Why a row's build multiplies CPU prompt batches through `vec_dot`
/// (before llamafile's sgemm, [`SGEMM_BUILD`]), or `None` for a later build,
/// an ik_llama.cpp build (forked after it) or an unknown one.
pub fn pre_sgemm_build(engine: &str, version: &str) -> Option<String> {
    if engine.to_ascii_lowercase().contains("ik_llama") {
        return None;
    }
    if let Some(n) = super::benchmarks::build_number(version) {
        return (n < SGEMM_BUILD).then(|| {
            format!("build {n} predates llamafile's sgemm (llama.cpp PR #6414, 2024-04-16)")
        });
    }
    let (year, month) = super::benchmarks::build_year_month(version)?;
    let before = year < 2024 || (year == 2024 && month.is_some_and(|m| m < 4));
    before.then(|| {
        format!(
            "a build from '{version}' predates llamafile's sgemm (llama.cpp PR #6414, 2024-04-16)"
        )
    })
}

/// NUMA nodes of a CPU host a row describes: `sockets` × the nodes per
/// socket its text states as AMD's "NPSn" BIOS setting (NPS1 when it
/// states none: one node per socket).
pub fn numa_nodes(text: &str, sockets: u32) -> u32 {
    let t = text.to_ascii_uppercase();
    let nps = t
        .find("NPS")
        .and_then(|i| t[i + 3..].chars().next())
        .and_then(|c| c.to_digit(10))
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    sockets.max(1) * nps
}

/// The system RAM a row's host text states ("736GB", "768 GB"), if any.
pub fn stated_ram(text: &str) -> Option<Bytes> {
    let re = regex::Regex::new(r"(?i)(\d{2,5})\s*gb\b").ok()?;
    let gb: u64 = re.captures(text)?.get(1)?.as_str().parse().ok()?;
    Some(Bytes(gb * 1_000_000_000))
}

/// Weights loaded into RAM without a memory map (`--no-mmap`, or
/// ik_llama.cpp's `-rtr`, which turns mmap off to repack in place) are read
/// into a heap buffer by llama.cpp's one loader thread, so that thread
/// first-touches every page: Linux's default local allocation puts each
/// page on the loader's NUMA node and, once that is full, on the nearest
/// node with free memory. The weights then fill bytes ÷ node size of the
/// host's `nodes` nodes (`ram` shared equally) instead of spreading over
/// all of them, and every thread reads them through those nodes' memory
/// channels alone (`--numa` only places threads; with a memory map the
/// compute threads fault the pages in and spread them). A full node holds
/// the most and so sets the time: the reads go at filled ÷ nodes of the
/// host's bandwidth (at least one node's). Scales the CPU share's
/// bandwidth so and returns the note; `None` on one node or when the
/// weights need every node anyway.
pub fn first_touch(p: &mut WorkSplit, nodes: u32, ram: Bytes) -> Option<String> {
    if nodes < 2 || ram == Bytes::ZERO {
        return None;
    }
    let d = p
        .devices
        .iter_mut()
        .find(|d| d.device.class == DeviceClass::Cpu)?;
    let weights = d.dense_bytes.0 + d.expert_bytes.0;
    let node = ram.0 as f64 / f64::from(nodes);
    let filled = (weights as f64 / node).max(1.0);
    if filled >= f64::from(nodes) {
        return None;
    }
    let share = filled / f64::from(nodes);
    d.device.bandwidth = BytesPerSecond(d.device.bandwidth.0 * share);
    Some(format!(
        "weights in RAM loaded without mmap by one loader thread: first-touch placement fills {filled:.2} of the host's {nodes} NUMA nodes ({} of weights, {} per node), so they are read at {filled:.2}/{nodes} of its bandwidth, {}",
        Bytes(weights),
        Bytes(node as u64),
        d.device.bandwidth
    ))
}

/// Whether a row's notes turn memory mapping off (`--no-mmap`, `-mmp 0`).
pub fn mmap_off(notes: &str) -> bool {
    let l = notes.to_ascii_lowercase();
    l.contains("--no-mmap") || l.contains("-mmp 0") || l.contains("--mmap 0")
}

/// Weights in RAM that llama.cpp uploads to a GPU for large batches (its
/// op offload) come from pageable memory when the model is memory-mapped:
/// llama.cpp's loader "avoid[s] using a host buffer when using mmap"
/// (src/llama-model.cpp), so the weights stay in the file mapping instead of
/// the GPU's pinned host buffer. A copy from pageable memory goes through
/// the driver's pinned staging buffer, filled by one CPU thread (CUDA C++
/// Best Practices Guide, "Pinned Memory"): the staging buffer stays in cache,
/// so the copy runs at one core's streaming-read rate when that is below the
/// link. Rewrites every streamed share of `p` and says so in the returned
/// note; `None` when nothing streams or the link is slower anyway.
pub fn pageable_uploads(
    p: &mut WorkSplit,
    per_core_read: Option<BytesPerSecond>,
) -> Option<String> {
    let (core, source) = match per_core_read {
        Some(m) => (m, "measured by this machine's one-thread probe"),
        None => default_per_core_read(),
    };
    let mut note = None;
    for d in &mut p.devices {
        if let Some(link) = d.streamed_over {
            if core.0 < link.0 {
                d.streamed_over = Some(core);
                note = Some(format!(
                    "weights in RAM are memory-mapped (pageable): uploads for large batches run through the driver's staging copy at one core's streaming read, {core} ({source}), below the {link} link"
                ));
            }
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{resolve, Catalog};
    use crate::model;
    use crate::quant::{weights, Quant};
    use crate::speed::{default_backend, prefill, Calibration, ModelCost};

    fn cal() -> &'static Calibration {
        Calibration::embedded().expect("embedded calibration parses")
    }

    #[test]
    fn numa_nodes_and_ram_come_from_the_host_text() {
        let t = "2x AMD EPYC 9355 (NPS4, 23 of 24 DDR5 channels populated, 736GB, ~720 GB/s triad)";
        assert_eq!(numa_nodes(t, 2), 8);
        assert_eq!(
            numa_nodes("AMD EPYC 9355 (32C, 12x DDR5-6400, 768GB)", 1),
            1
        );
        assert_eq!(numa_nodes("2x Xeon Gold 6454S", 2), 2);
        assert_eq!(stated_ram(t), Some(Bytes(736_000_000_000)));
        assert_eq!(stated_ram("2x Xeon Gold 6454S"), None);
    }

    /// Weights first-touched by one loader thread fill as many nodes as they
    /// need, and are read through those nodes' channels alone.
    #[test]
    fn first_touch_reads_the_weights_from_the_nodes_they_fill() {
        let m = cost("deepseek-r1:671b", "Q4_K_M");
        let (cpu, _) = device("epyc-9355");
        let (gpu, _) = device("4090");
        let base = WorkSplit::experts_on_cpu(&m, gpu, cpu, BytesPerSecond::gbps(31.5));
        let bw = |p: &WorkSplit| {
            p.devices
                .iter()
                .find(|d| d.device.class == DeviceClass::Cpu)
                .unwrap()
                .device
                .bandwidth
                .0
        };
        let mut p = base.clone();
        // 8 nodes of 92 GB: ~380 GB of experts fill about 4 of them.
        let note = first_touch(&mut p, 8, Bytes(736_000_000_000)).expect("several nodes");
        let share = bw(&p) / bw(&base);
        assert!(share > 0.4 && share < 0.6, "{share} ({note})");
        assert!(note.contains("first-touch"));
        // One node, or weights that need every node: nothing changes.
        let mut one = base.clone();
        assert!(first_touch(&mut one, 1, Bytes(736_000_000_000)).is_none());
        let mut small = base.clone();
        assert!(first_touch(&mut small, 8, Bytes(200_000_000_000)).is_none());
        assert_eq!(bw(&one), bw(&base));
    }

    fn device(name: &str) -> (DeviceRates, crate::hardware::Device) {
        let cat = Catalog::embedded().expect("catalog");
        let r = resolve(cat, name).expect("hardware").remove(0);
        let d = DeviceRates::from_device(&r.device, default_backend(&r.device), cal())
            .expect("device spec");
        (d, r.device)
    }

    fn cost(name: &str, quant: &str) -> ModelCost {
        let spec = model::resolve(name).expect("model").entry.spec();
        let q = Quant::parse(quant).expect("quant");
        ModelCost::new(&spec, &weights(&spec, &q, model::MlaTensorLayout::Split))
    }

    #[test]
    fn the_hybrid_table_parses_with_its_sources() {
        let h = hybrid_of("core-i9-13900k").expect("13900K is hybrid");
        assert_eq!((h.performance_cores, h.efficient_cores), (8, 16));
        assert!(h.source.contains("ark.intel.com"));
        assert!(hybrid_of("core-i9-14900k").is_some());
        assert!(hybrid_of("epyc-9355").is_none());
    }

    #[test]
    fn threads_on_efficient_cores_run_at_the_slowest_threads_pace() {
        let h = hybrid_of("core-i9-13900k").unwrap();
        let (p_only, _) = h.int8_rate(64.0, Some(8));
        let (with_e, why) = h.int8_rate(64.0, Some(24));
        let (all, _) = h.int8_rate(64.0, Some(32));
        let e_thread = 64.0 * h.e_core_simd_share * h.e_core_ghz * 1e9;
        // 24 threads: every thread paced by an efficient core.
        assert!((with_e.0 - 24.0 * e_thread).abs() < 1.0, "{why}");
        // Eight P-core threads are each faster than an E-core thread...
        assert!(p_only.0 / 8.0 > with_e.0 / 24.0);
        // ...and tripling the threads gains far less than 3×.
        assert!(with_e.0 < 2.0 * p_only.0);
        // The default is one thread per performance core.
        assert_eq!(h.int8_rate(64.0, None).0, p_only);
        assert!(all.0 >= with_e.0);
    }

    #[test]
    fn a_zen_4_series_cpu_gets_its_avx512_unit() {
        assert_eq!(
            series_simd(Some("Threadripper PRO 7000WX (Storm Peak, Zen 4)")),
            Some("AVX-512 incl. VNNI and BF16")
        );
        assert_eq!(series_simd(Some("Core 13th gen (Raptor Lake)")), None);
        // Read as its series' platform, a 24-core 7965WX computes with
        // AVX-512 VNNI, more than 24 typical AVX2 desktop cores.
        let (d, _) = device("AMD Threadripper PRO 7965WX (24C)");
        let note = d.compute_note.clone().unwrap_or_default();
        assert!(note.contains("series"), "{note}");
        assert!(note.contains("AVX-512"), "{note}");
    }

    #[test]
    fn thread_counts_are_read_from_notes() {
        assert_eq!(
            threads_in_notes("-fmoe --threads 32 --threads-batch 56; n_batch 2048"),
            (Some(32), Some(56))
        );
        assert_eq!(threads_in_notes("24 threads; NPS1"), (Some(24), None));
        assert_eq!(
            threads_in_notes("8 threads best; 16-32 threads slower (15.7-16.7)"),
            (Some(8), None)
        );
        assert_eq!(threads_in_notes("-ngl 99 -fa 1"), (None, None));
    }

    #[test]
    fn the_build_decides_the_pre_sgemm_prefill_path() {
        assert!(pre_sgemm_build("llama.cpp (CPU)", "2023-08 build (unknown)").is_some());
        assert!(pre_sgemm_build("llama.cpp (CPU)", "build 1d2f8b (2500)").is_some());
        assert!(pre_sgemm_build("llama.cpp (CPU)", "build d46dbc76 (2833)").is_none());
        assert!(pre_sgemm_build("llama.cpp (CPU)", "unknown (2025-07-10)").is_none());
        assert!(pre_sgemm_build("ik_llama.cpp (CUDA+CPU)", "2023-08").is_none());
        assert!(pre_sgemm_build("llama.cpp (CPU)", "unknown").is_none());
    }

    #[test]
    fn a_pre_sgemm_build_is_slower_at_prefill_than_a_current_one() {
        let (d, dev) = device("core-i9-13900k");
        let ops = dev.cpu.as_ref().map(|c| c.int8_ops_per_cycle);
        let current = HostRun {
            threads: Some(8),
            vec_dot_prefill: None,
        };
        let old = HostRun {
            vec_dot_prefill: pre_sgemm_build("llama.cpp", "2023-08"),
            ..current.clone()
        };
        let now = apply_host_run(d.clone(), &dev.id, 1, None, ops, &current, 0.7);
        let then = apply_host_run(d, &dev.id, 1, None, ops, &old, 0.7);
        assert!(then.compute_note.as_deref().unwrap().contains("PR #6414"));
        let m = cost("llama-2-7b", "Q4_0");
        let fast = prefill(&WorkSplit::single_device(&m, now), 512, 0, cal()).unwrap();
        let slow = prefill(&WorkSplit::single_device(&m, then), 512, 0, cal()).unwrap();
        assert!(
            slow.rate.0 < fast.rate.0,
            "{} vs {}",
            slow.rate.0,
            fast.rate.0
        );
    }

    #[test]
    fn fewer_threads_than_cores_compute_less() {
        let (d, dev) = device("epyc-9355");
        let cores = dev.cpu.as_ref().map(|c| c.cores);
        let half = HostRun {
            threads: Some(16),
            vec_dot_prefill: None,
        };
        let r = apply_host_run(d.clone(), &dev.id, 1, cores, None, &half, 0.7);
        assert!(r.compute.unwrap().0 < d.compute.unwrap().0);
        // No stated threads: unchanged.
        let same = apply_host_run(d.clone(), &dev.id, 1, cores, None, &HostRun::default(), 0.7);
        assert_eq!(same, d);
    }

    #[test]
    fn memory_mapped_weights_upload_at_one_cores_read_rate() {
        let m = cost("r1", "Q4_K_M");
        let (g, _) = device("4090");
        let (c, _) = device("epyc-9355");
        let pcie5 = BytesPerSecond::gbps(63.0);
        let mut p = WorkSplit::experts_on_cpu(&m, g.clone(), c.clone(), pcie5);
        let pinned = prefill(&p, 512, 0, cal()).unwrap();
        let note = pageable_uploads(&mut p, None).expect("a PCIe 5.0 link is faster than one core");
        assert!(note.contains("pageable"));
        assert_eq!(p.devices[1].streamed_over, Some(default_per_core_read().0));
        let mapped = prefill(&p, 512, 0, cal()).unwrap();
        assert!(mapped.rate.0 < pinned.rate.0);
        // A link slower than one core's reads stays the limit.
        let mut slow = WorkSplit::experts_on_cpu(&m, g, c, BytesPerSecond::gbps(8.0));
        assert!(pageable_uploads(&mut slow, None).is_none());
        assert!(mmap_off("--no-mmap -c 32768") && !mmap_off("-ngl 62 -fa"));
    }
}
