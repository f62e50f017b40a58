//! canirun's llama.cpp memory model against the buffers a real llama.cpp
//! (commit 0c1e57098, CPU backend) reported for fixtures of real architectures
//! at real widths with fewer layers (`data/llama_cpp_cpu_buffers.csv`, written by
//! scripts/llama_cpp_ground_truth.py from scripts/make_fixtures.py fixtures).

use canirun_core::memory::{llama_cpp, Backend, FlashAttn, OutputRows, RunSettings};
mod common;
use canirun_core::quant::GgmlType;
use common::fixture_spec;

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
            // KV plus the recurrent state of hybrid models (empty for the others).
            mib(&rec[col("kv_MiB")])
                + match &rec[col("rs_MiB")] {
                    "" => 0.0,
                    rs => mib(rs),
                },
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
    // Every successful run: 90 rows before the gpt-oss and GLM-4.5-Air fixtures, and
    // their 12 each (10 llama-server runs, 2 llama-fit-params projections), and 12 of
    // the hybrid LFM2 fixture.
    assert!(checked >= 126, "only {checked} rows checked");
}
