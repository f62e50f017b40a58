//! canirun's llama.cpp memory model against the buffers a real llama.cpp
//! (commit 0c1e57098, CPU backend) reported for fixtures of real architectures
//! at real widths with fewer layers (`data/llama_cpp_cpu_buffers.csv`, written by
//! scripts/llama_cpp_ground_truth.py from scripts/make_fixtures.py fixtures).

use canirun_core::memory::{llama_cpp, Backend, FlashAttn, OutputRows, RunSettings};
use canirun_core::model::{catalog, Arch, ModelSpec, SwaSpec};
use canirun_core::quant::GgmlType;

fn fixture_spec(fixture: &str) -> Option<ModelSpec> {
    let (id, n_layer) = match fixture {
        "qwen2-7b-l4" => ("deepseek-r1-distill-qwen-7b", 4),
        "llama-8b-l4" => ("llama-3.1-8b", 4),
        "deepseek2-r1-l4" => ("deepseek-r1", 4),
        // gemma-3-1b widths (data/model_configs.csv row gemma-3-1b-it; the fixture keeps
        // llama.cpp's 262144-row text vocabulary): not a catalog model, so spelled out.
        "gemma3-1b" => {
            return Some(ModelSpec {
                id: "gemma3-1b".into(),
                name: "gemma-3-1b fixture".into(),
                arch: Arch::Gemma3,
                n_embd: 1152,
                n_layer: 26,
                n_head: 4,
                n_head_kv: 1,
                head_dim_k: 256,
                head_dim_v: 256,
                n_ff: 6912,
                n_vocab: 262144,
                tied_embeddings: true,
                n_ctx_train: 32768,
                moe: None,
                mla: None,
                n_mtp_layers: 0,
                rope_freqs: false,
                swa: Some(SwaSpec {
                    window: 512,
                    period: 6,
                }),
            })
        }
        _ => return None,
    };
    let mut m = catalog().iter().find(|e| e.id == id)?.spec();
    m.n_layer = n_layer;
    Some(m)
}

fn mib(s: &str) -> f64 {
    s.parse().unwrap()
}

#[test]
fn kv_compute_and_output_match_llama_cpp_on_cpu() {
    let text = include_str!("../data/llama_cpp_cpu_buffers.csv");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let mut checked = 0;
    let mut report = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if &rec[col("status")] != "ok" {
            continue;
        }
        // llama-fit-params reserves logits for every token of the micro-batch.
        let outputs = match &rec[col("tool")] {
            "server" => OutputRows::PerSequence,
            "fit-params" => OutputRows::PerToken,
            other => panic!("unknown tool {other}"),
        };
        let Some(m) = fixture_spec(&rec[col("fixture")]) else {
            continue;
        };
        let s = RunSettings {
            n_ctx: rec[col("n_ctx_requested")].parse().unwrap(),
            n_batch: rec[col("n_batch")].parse().unwrap(),
            n_ubatch: rec[col("n_ubatch")].parse().unwrap(),
            n_parallel: rec[col("n_parallel")].parse().unwrap(),
            kv_unified: &rec[col("kv_unified")] == "true",
            flash_attn: FlashAttn::parse(&rec[col("flash_attn")]).unwrap(),
            type_k: rec[col("type_k")].parse::<GgmlType>().unwrap(),
            type_v: rec[col("type_v")].parse::<GgmlType>().unwrap(),
            backend: Backend::Cpu,
            outputs,
            ..Default::default()
        };
        let r = llama_cpp::resolve_settings(&m, &s).unwrap();
        assert_eq!(r.n_ctx_seq.to_string(), &rec[col("n_ctx_seq")]);
        let kv = llama_cpp::kv_cache(&m, &s, &r).bytes.as_mib();
        let compute = llama_cpp::compute_buffer(&m, &s, &r).bytes.as_mib();
        let output = llama_cpp::output_buffer(&m, s.n_parallel).bytes.as_mib();
        let (kv_m, c_m, o_m) = (
            mib(&rec[col("kv_MiB")]),
            mib(&rec[col("compute_MiB")]),
            mib(&rec[col("output_MiB")]),
        );
        report.push(format!(
            "{} {} c={} np={} ub={} fa={} {}: kv {kv:.2}/{kv_m} compute {compute:.2}/{c_m} output {output:.2}/{o_m}",
            &rec[col("fixture")], &rec[col("tool")], s.n_ctx, s.n_parallel, s.n_ubatch, &rec[col("flash_attn")], s.type_k
        ));
        // llama.cpp prints MiB with two decimals.
        assert!((kv - kv_m).abs() <= 0.006, "KV: {}", report.last().unwrap());
        assert!(
            (output - o_m).abs() <= 0.006,
            "output: {}",
            report.last().unwrap()
        );
        let tol = (0.05 * c_m).max(16.0);
        assert!(
            (compute - c_m).abs() <= tol,
            "compute: {}",
            report.last().unwrap()
        );
        checked += 1;
    }
    eprintln!("{}", report.join("\n"));
    // Every successful run: 70 llama-server runs and 8 llama-fit-params projections.
    assert!(checked >= 78, "only {checked} rows checked");
}
