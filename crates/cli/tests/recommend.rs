//! `canirun recommend` and `canirun` with no model.

mod common;
use common::json;

#[test]
fn a_512_gb_mac_gets_the_full_r1() {
    let v = json(&["recommend", "--gpu", "m3-ultra-512"]);
    let top = &v["picks"][0];
    assert!(top["model"].as_str().unwrap().starts_with("deepseek-r1"));
    assert!(top["memory"].as_u64().unwrap() > 300 << 30, "{top}");
    assert_eq!(top["fits_fully_on_gpu"], true);
}

#[test]
fn a_24_gb_card_gets_a_distill_that_fits_whole() {
    let v = json(&["recommend", "--gpu", "4090", "--ram", "64GiB"]);
    let picks = v["picks"].as_array().unwrap();
    assert!(!picks.is_empty());
    assert_eq!(picks[0]["fits_fully_on_gpu"], true);
    // Ranked by the published benchmarks within the runnable, near-lossless options.
    let scores: Vec<f64> = picks
        .iter()
        .take_while(|p| p["fits_fully_on_gpu"] == true)
        .map(|p| p["model_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

#[test]
fn min_tps_filters_slow_options() {
    let v = json(&[
        "recommend",
        "--gpu",
        "4090",
        "--ram",
        "64GiB",
        "--min-tps",
        "30",
    ]);
    for p in v["picks"].as_array().unwrap() {
        assert!(p["decode_tps"].as_f64().unwrap() >= 30.0, "{p}");
    }
}

#[test]
fn no_model_means_recommend_for_this_machine() {
    let v = json(&[]);
    assert_eq!(v["hardware"]["origin"], "detected");
    assert!(v["considered"].as_u64().unwrap() > 0);
}
