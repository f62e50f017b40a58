use super::*;
use crate::hardware::{resolve_set, Catalog, DeviceKind};
use crate::units::{Joules, TokensPerSecond, Watts};

fn model() -> &'static PowerModel {
    PowerModel::embedded().expect("embedded power model parses")
}

/// A discrete GPU of `tdp` watts that streams `gbs` GB/s in decode.
fn gpu(tdp: f64, n: u32, gbs: f64) -> DeviceLoad {
    DeviceLoad {
        name: "test GPU".into(),
        kind: DeviceKind::Gpu,
        count: n,
        tdp: Some(Watts(tdp)),
        gpu_cores: None,
        duty: (gbs / 1000.0).min(1.0),
        stream_gbs: gbs,
    }
}

#[test]
fn embedded_model_parses_and_has_sourced_defaults() {
    let m = model();
    assert_eq!(m.base.pc_idle_w, 47.7);
    assert_eq!(m.defaults.api_price_out, 2.19);
    assert_eq!(m.defaults.api_price_in, 0.55);
    assert!(POWER_CSV.starts_with("hardware,"));
    assert!(PRICES_CSV.contains("2.19"));
}

#[test]
fn power_rises_with_streamed_bytes_tdp_and_count_and_prefill_is_highest() {
    let m = model();
    let w = |l: DeviceLoad, p: Phase| wall_power(m, &[l], p).unwrap().wall.0;
    assert!(w(gpu(450.0, 1, 200.0), Phase::Decode) < w(gpu(450.0, 1, 800.0), Phase::Decode));
    assert!(w(gpu(170.0, 1, 300.0), Phase::Decode) < w(gpu(450.0, 1, 300.0), Phase::Decode));
    assert!(w(gpu(450.0, 1, 800.0), Phase::Decode) < w(gpu(450.0, 2, 800.0), Phase::Decode));
    assert!(w(gpu(450.0, 1, 800.0), Phase::Decode) <= w(gpu(450.0, 1, 800.0), Phase::Prefill));
    // Never below the idle machine, never above full load (the idle PC,
    // the host thread spinning on the GPU, the card at its full-load share).
    assert!(w(gpu(450.0, 1, 0.0), Phase::Decode) >= m.base.pc_idle_w + m.base.gpu_host_spin_w);
    let ceiling = m.base.pc_idle_w
        + m.base.gpu_host_spin_w
        + 450.0 * m.utilisation.prefill / m.psu.efficiency;
    assert!((w(gpu(450.0, 1, 1e6), Phase::Decode) - ceiling).abs() < 1e-9);
}

#[test]
fn terms_add_up_to_the_total() {
    let e = wall_power(model(), &[gpu(450.0, 2, 500.0)], Phase::Decode).unwrap();
    let sum: f64 = e.terms.iter().map(|t| t.watts.0).sum();
    assert!((sum - e.wall.0).abs() < 1e-9);
    assert_eq!(e.host, Host::Pc);
}

#[test]
fn unit_conversions() {
    assert!((heat_btu_per_hour(Watts(1000.0)) - 3412.0).abs() < 1e-9);
    let j = energy_per_token(Watts(300.0), TokensPerSecond(20.0)).unwrap();
    assert!((j.0 - 15.0).abs() < 1e-12);
    assert!(energy_per_token(Watts(300.0), TokensPerSecond(0.0)).is_none());
    assert!((Joules(3.6e6).as_kwh() - 1.0).abs() < 1e-12);
    // 14.4 J/token → 4.0 kWh per 1M tokens → $0.675 at 16.88 ¢ (the research note's worked example).
    let p = KwhPrice::parse("0.1688", "USD").unwrap();
    assert!((p.per_million_tokens(Joules(14.4)) - 0.6752).abs() < 1e-3);
}

#[test]
fn kwh_price_parsing() {
    let p = KwhPrice::parse("0.29 eur", "USD").unwrap();
    assert_eq!((p.amount, p.currency.as_str()), (0.29, "EUR"));
    assert_eq!(KwhPrice::parse("EUR0.3", "USD").unwrap().currency, "EUR");
    assert_eq!(KwhPrice::parse("$0.2", "EUR").unwrap().currency, "USD");
    assert_eq!(KwhPrice::parse("0.2", "usd").unwrap().currency, "USD");
    for bad in ["-0.1", "abc", "0.1 EURO", "1000", ""] {
        assert!(KwhPrice::parse(bad, "USD").is_err(), "{bad}");
    }
    assert!(ApiPrice::new(-1.0, 2.19).is_err());
}

#[test]
fn break_even_arithmetic() {
    // $3652.50 over 1 year = $10/day; API $2.19/M, electricity $0.19/M → margin $2/M
    // → break-even 5M tokens/day.
    let i = RoiInput {
        purchase_usd: Some(3652.5),
        years: 1.0,
        tokens_per_day: 1e6,
        energy_usd_per_m: Some(0.19),
        api_usd_per_m: 2.19,
        capacity_tokens_per_day: 1e7,
    };
    let r = roi(&i).unwrap().unwrap();
    assert!((r.hardware_usd_per_day - 10.0).abs() < 1e-9);
    assert!((r.local_usd_per_m - 10.19).abs() < 1e-9);
    match r.break_even {
        BreakEven::At(t) => assert!((t - 5e6).abs() < 1e-3),
        other => panic!("{other:?}"),
    }
    // More tokens per day: cheaper per token; longer amortisation: cheaper too.
    let more = roi(&RoiInput {
        tokens_per_day: 2e6,
        ..i
    })
    .unwrap()
    .unwrap();
    assert!(more.local_usd_per_m < r.local_usd_per_m);
    let longer = roi(&RoiInput { years: 3.0, ..i }).unwrap().unwrap();
    assert!(longer.local_usd_per_m < r.local_usd_per_m);
    // Beyond capacity, never, unknown price, bad input.
    let slow = roi(&RoiInput {
        capacity_tokens_per_day: 1e6,
        ..i
    })
    .unwrap()
    .unwrap();
    assert!(matches!(slow.break_even, BreakEven::BeyondCapacity(_)));
    let dear = roi(&RoiInput {
        energy_usd_per_m: Some(3.0),
        ..i
    })
    .unwrap()
    .unwrap();
    assert_eq!(dear.break_even, BreakEven::Never);
    assert_eq!(
        roi(&RoiInput {
            purchase_usd: None,
            ..i
        })
        .unwrap(),
        None
    );
    assert!(roi(&RoiInput { years: 0.0, ..i }).is_err());
    assert!(roi(&RoiInput {
        purchase_usd: Some(-1.0),
        ..i
    })
    .is_err());
}

#[test]
fn psu_sizing_rounds_up_to_a_standard_rating() {
    let m = model();
    // 450 + 125 host = 575 W ÷ 0.8 = 719 → 750 W.
    assert_eq!(psu_size(m, &[gpu(450.0, 1, 1.0)]), Some(Watts(750.0)));
    // 2 × 450 + 125 = 1025 ÷ 0.8 = 1281 → 1300 W.
    assert_eq!(psu_size(m, &[gpu(450.0, 2, 1000.0)]), Some(Watts(1300.0)));
}

#[test]
fn apple_chips_are_rated_per_gpu_core_and_have_no_atx_supply() {
    let m = model();
    let set = resolve_set(Catalog::embedded().unwrap(), &["mac-studio-m3-ultra-256"]).unwrap();
    let (d, n) = &set.devices[0];
    let l = DeviceLoad::from_device(d, *n, 0.9, 700.0);
    let r = l.rating(m).unwrap();
    assert!((r.0 - m.utilisation.apple_w_per_gpu_core * 80.0).abs() < 1e-9);
    assert_eq!(psu_size(m, std::slice::from_ref(&l)), None);
    assert_eq!(wall_power(m, &[l], Phase::Decode).unwrap().host, Host::Mac);
}

#[test]
fn a_device_without_rating_is_an_error_not_a_guess() {
    let l = DeviceLoad {
        tdp: None,
        ..gpu(0.0, 1, 1000.0)
    };
    assert!(matches!(
        wall_power(model(), &[l], Phase::Decode),
        Err(CostError::NoRating(_))
    ));
}

#[test]
fn a_cpu_platform_decodes_at_its_full_load_share_and_a_gpu_pc_pays_its_spinning_host() {
    let m = model();
    let cpu = DeviceLoad {
        name: "test CPU".into(),
        kind: DeviceKind::CpuPlatform,
        count: 1,
        tdp: Some(Watts(350.0)),
        gpu_cores: None,
        duty: 0.3,
        stream_gbs: 90.0,
    };
    // llama.cpp's threads spin at every op's barrier: decode draws what
    // prefill draws, whatever the bytes streamed.
    let d = wall_power(m, std::slice::from_ref(&cpu), Phase::Decode).unwrap();
    let p = wall_power(m, std::slice::from_ref(&cpu), Phase::Prefill).unwrap();
    assert!((d.wall.0 - p.wall.0).abs() < 1e-9);
    // A CPU alone has no GPU stream to wait on; a GPU PC has one thread
    // spinning on it, named in the terms.
    assert!(!d
        .terms
        .iter()
        .any(|t| t.label.contains("waiting on the GPU")));
    let g = wall_power(m, &[gpu(450.0, 1, 500.0)], Phase::Decode).unwrap();
    let spin = g
        .terms
        .iter()
        .find(|t| t.label.contains("waiting on the GPU"))
        .expect("host spin term");
    assert_eq!(spin.watts.0, m.base.gpu_host_spin_w);
    assert!(m.base.gpu_host_spin_w > 0.0);
}

#[test]
fn bytes_streamed_in_bursts_cost_less_than_a_continuous_stream() {
    // The same card moving the same GB/s: streaming the whole token (duty 1)
    // draws more than streaming in bursts between kernel gaps (duty 0.6),
    // by j_per_gb × GB/s × (1 − 0.6) ÷ PSU efficiency at the wall.
    let m = model();
    let at = |duty: f64| {
        let mut l = gpu(450.0, 1, 600.0);
        l.duty = duty;
        wall_power(m, &[l], Phase::Decode).unwrap().wall.0
    };
    let want = m.utilisation.j_per_gb * 600.0 * 0.4 / m.psu.efficiency;
    assert!(
        (at(1.0) - at(0.6) - want).abs() < 1e-9,
        "{} vs {}",
        at(1.0) - at(0.6),
        want
    );
    assert!(at(0.0) < at(0.6));
}
