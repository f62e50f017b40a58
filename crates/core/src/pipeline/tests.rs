//! The pipeline end to end: settings that change the work change the speed,
//! and the report says what it assumed.

use super::*;
use crate::hardware::Catalog;
use crate::memory::FlashAttn;
use crate::model::MlaTensorLayout;
use crate::quant::GgmlType;

fn report(model: &str, hw: &str, f: impl Fn(&mut RunSettings, &mut Workload)) -> Report {
    let m = Model::from_catalog(model, None, false, MlaTensorLayout::Split).unwrap();
    let t = Target::named(Catalog::embedded().unwrap(), &[hw], None).unwrap();
    let mut req = Request::new(
        &m,
        &t,
        RunSettings {
            n_ctx: 32768,
            backend: t.backend,
            ..RunSettings::default()
        },
    );
    f(&mut req.settings, &mut req.workload);
    estimate(&req).unwrap()
}

fn prefill(r: &Report) -> f64 {
    r.speed.report().unwrap().prefill.as_ref().unwrap().rate.0
}

fn decode_deepest(r: &Report) -> f64 {
    r.speed.report().unwrap().decode_last().estimate.rate.0
}

#[test]
fn micro_batch_and_batch_change_prefill() {
    let base = report("deepseek-r1:7b", "4090", |_, w| w.prompt = 4096);
    let small_ub = report("deepseek-r1:7b", "4090", |s, w| {
        s.n_ubatch = 64;
        w.prompt = 4096;
    });
    let small_b = report("deepseek-r1:7b", "4090", |s, w| {
        s.n_batch = 64;
        w.prompt = 4096;
    });
    assert_ne!(prefill(&base), prefill(&small_ub));
    assert_ne!(prefill(&base), prefill(&small_b));
    // The micro-batch changes the compute buffer too: memory and speed read the same settings.
    assert_ne!(base.memory_total, small_ub.memory_total);
}

#[test]
fn a_quantized_cache_reads_fewer_bytes_at_depth() {
    let f16 = report("deepseek-r1:32b", "h100-sxm", |_, _| {});
    let q8 = report("deepseek-r1:32b", "h100-sxm", |s, _| {
        s.type_k = GgmlType::Q8_0;
        s.type_v = GgmlType::Q8_0;
        s.flash_attn = FlashAttn::On;
    });
    assert!(decode_deepest(&q8) > decode_deepest(&f16));
}

#[test]
fn flash_attention_changes_long_prompts() {
    let on = report("deepseek-r1:7b", "4090", |s, w| {
        s.flash_attn = FlashAttn::On;
        w.prompt = 16384;
    });
    let off = report("deepseek-r1:7b", "4090", |s, w| {
        s.flash_attn = FlashAttn::Off;
        w.prompt = 16384;
    });
    assert_ne!(prefill(&on), prefill(&off));
}

#[test]
fn ram_without_a_cpu_assumes_a_desktop_and_says_so() {
    let m = Model::from_catalog("deepseek-r1:671b", None, false, MlaTensorLayout::Split).unwrap();
    let mut t = Target::named(Catalog::embedded().unwrap(), &["4090"], None).unwrap();
    t.ram = Some(crate::units::Bytes::gib(384));
    let r = estimate(&Request::new(
        &m,
        &t,
        RunSettings {
            n_ctx: 16384,
            ..RunSettings::default()
        },
    ))
    .unwrap();
    let sp = r.speed.report().expect("a speed with a range");
    assert!(sp.decode_first().low.0 < sp.decode_first().rate.0);
    assert!(r.hardware.assumptions.iter().any(|a| a.contains("assumed")));
}

#[test]
fn no_ram_given_is_a_warning_not_a_fit() {
    let m = Model::from_catalog("deepseek-r1:671b", None, false, MlaTensorLayout::Split).unwrap();
    let t = Target::named(Catalog::embedded().unwrap(), &["2x4090"], None).unwrap();
    let r = estimate(&Request::new(&m, &t, RunSettings::default())).unwrap();
    assert!(!matches!(r.verdict, Verdict::Fits { .. }));
    assert!(r.warnings.iter().any(|w| w.contains("--ram")));
}

#[test]
fn a_memory_platform_without_cores_still_gets_a_prefill_and_says_what_it_assumed() {
    let m = Model::from_catalog("deepseek-r1:7b", None, false, MlaTensorLayout::Split).unwrap();
    let t = Target::named(
        Catalog::embedded().unwrap(),
        &["epyc-9004-12ch-ddr5-4800"],
        Some(crate::units::Bytes::gib(128)),
    )
    .unwrap();
    let r = estimate(&Request::new(
        &m,
        &t,
        RunSettings {
            backend: t.backend,
            ..RunSettings::default()
        },
    ))
    .unwrap();
    let sp = r.speed.report().expect("a speed");
    assert!(sp.prefill.as_ref().is_some_and(|p| p.rate.0 > 0.0));
    assert!(sp
        .assumed_cpu
        .as_deref()
        .is_some_and(|a| a.contains("no CPU cores or clock")));
}
