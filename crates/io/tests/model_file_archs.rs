//! `model_file::from_gguf` on synthetic headers of every architecture the issue
//! names: the metadata keys llama.cpp writes map onto the right shape facts.

use canirun_core::model::{
    catalog, enumerate_tensors, Arch, LayerKind, MlaTensorLayout, ModelSpec, MoeSpec,
    RecurrentSpec, SwaSpec,
};
use canirun_core::quant::{weights, Quant};
use canirun_io::gguf::{
    read_file, write_header, GgufArray, GgufTensorInfo, GgufValue, GgufValueType,
};
use canirun_io::model_file::from_gguf;

/// Write `spec` as a GGUF header (Q4_K_M types from canirun's own recipe) with the
/// given metadata, extend the file sparsely to its full size, and read it back.
fn roundtrip(
    spec: &ModelSpec,
    arch: &str,
    extra: Vec<(&str, GgufValue)>,
) -> canirun_io::model_file::FileModel {
    let w = weights(
        spec,
        &Quant::parse("Q4_K_M").unwrap(),
        MlaTensorLayout::Split,
    );
    let mut offset = 0u64;
    let mut tensors = Vec::new();
    for t in &w.tensors {
        let id = match t.storage {
            canirun_core::quant::StorageType::Ggml(g) => g.traits().id,
            _ => unreachable!(),
        };
        tensors.push(GgufTensorInfo {
            name: t.tensor.name().to_string(),
            dims: t.tensor.shape().to_vec(),
            ggml_type: id,
            offset,
            n_bytes: t.bytes.0,
        });
        offset += t.bytes.0.div_ceil(32) * 32;
    }
    let k = |s: &str| format!("{arch}.{s}");
    let mut md: Vec<(String, GgufValue)> = vec![
        (
            "general.architecture".into(),
            GgufValue::String(arch.into()),
        ),
        (
            "general.name".into(),
            GgufValue::String(format!("synthetic {arch}")),
        ),
        ("general.file_type".into(), GgufValue::U32(15)),
        (k("block_count"), GgufValue::U32(spec.n_layer as u32)),
        (k("embedding_length"), GgufValue::U32(spec.n_embd as u32)),
        (k("feed_forward_length"), GgufValue::U32(spec.n_ff as u32)),
        (
            k("attention.head_count"),
            GgufValue::U32(spec.n_head as u32),
        ),
        (
            k("attention.head_count_kv"),
            GgufValue::U32(spec.n_head_kv as u32),
        ),
        (
            k("attention.key_length"),
            GgufValue::U32(spec.head_dim_k as u32),
        ),
        (
            k("attention.value_length"),
            GgufValue::U32(spec.head_dim_v as u32),
        ),
        (k("context_length"), GgufValue::U32(spec.n_ctx_train as u32)),
    ];
    for (key, v) in extra {
        // An extra key replaces a default one (per-layer head_count_kv arrays).
        md.retain(|(k0, _)| *k0 != k(key));
        md.push((k(key), v));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{arch}.gguf"));
    let mut f = std::fs::File::create(&path).unwrap();
    let data_offset = write_header(&mut f, 3, &md, &tensors).unwrap();
    f.set_len(data_offset + offset).unwrap();
    drop(f);
    let file = read_file(&path).unwrap();
    let fm = from_gguf(&file, arch).unwrap();
    assert_eq!(
        fm.weights.total(),
        w.total(),
        "{arch}: weights exact from the header"
    );
    fm
}

fn base(id: &str) -> ModelSpec {
    catalog().iter().find(|e| e.id == id).unwrap().spec()
}

#[test]
fn dense_architectures() {
    for (id, arch, want) in [
        ("deepseek-r1-distill-llama-8b", "llama", Arch::Llama),
        ("deepseek-r1-distill-qwen-7b", "qwen2", Arch::Qwen2),
        ("deepseek-r1-0528-qwen3-8b", "qwen3", Arch::Qwen3),
    ] {
        let spec = base(id);
        let fm = roundtrip(&spec, arch, vec![]);
        assert_eq!(fm.spec.arch, want);
        assert_eq!(
            (fm.spec.n_layer, fm.spec.n_head, fm.spec.n_head_kv),
            (spec.n_layer, spec.n_head, spec.n_head_kv)
        );
        assert_eq!(fm.spec.n_vocab, spec.n_vocab);
        assert!(!fm.spec.tied_embeddings);
        assert!(fm.notes.is_empty(), "{:?}", fm.notes);
    }
    // Mistral GGUFs are written as "llama".
    let mut mistral = base("llama-3.1-8b");
    mistral.n_vocab = 32768;
    mistral.rope_freqs = false;
    assert_eq!(roundtrip(&mistral, "llama", vec![]).spec.arch, Arch::Llama);
}

#[test]
fn moe_and_sliding_window_architectures() {
    // Qwen3-30B-A3B shapes (data/model_configs.csv row Qwen3-30B-A3B).
    let mut q3moe = base("deepseek-r1-0528-qwen3-8b");
    q3moe.arch = Arch::Qwen3Moe;
    (
        q3moe.n_embd,
        q3moe.n_layer,
        q3moe.n_head,
        q3moe.n_head_kv,
        q3moe.n_ff,
    ) = (2048, 48, 32, 4, 6144);
    q3moe.moe = Some(MoeSpec {
        n_expert: 128,
        n_expert_used: 8,
        n_expert_shared: 0,
        n_ff_exp: 768,
        n_layer_dense_lead: 0,
        layer_step: 1,
    });
    let fm = roundtrip(
        &q3moe,
        "qwen3moe",
        vec![
            ("expert_count", GgufValue::U32(128)),
            ("expert_used_count", GgufValue::U32(8)),
            ("expert_feed_forward_length", GgufValue::U32(768)),
        ],
    );
    assert_eq!(fm.spec.arch, Arch::Qwen3Moe);
    assert_eq!(fm.spec.moe, q3moe.moe);

    // gpt-oss-20b shapes: alternating 128-token sliding window.
    let mut oss = base("llama-3.1-8b");
    oss.arch = Arch::GptOss;
    (
        oss.n_embd,
        oss.n_layer,
        oss.n_head,
        oss.n_head_kv,
        oss.head_dim_k,
        oss.head_dim_v,
        oss.n_vocab,
    ) = (2880, 24, 64, 8, 64, 64, 201088);
    oss.rope_freqs = false;
    oss.moe = Some(MoeSpec {
        n_expert: 32,
        n_expert_used: 4,
        n_expert_shared: 0,
        n_ff_exp: 2880,
        n_layer_dense_lead: 0,
        layer_step: 1,
    });
    let fm = roundtrip(
        &oss,
        "gpt-oss",
        vec![
            ("expert_count", GgufValue::U32(32)),
            ("expert_used_count", GgufValue::U32(4)),
            ("expert_feed_forward_length", GgufValue::U32(2880)),
            ("attention.sliding_window", GgufValue::U32(128)),
        ],
    );
    assert_eq!(fm.spec.arch, Arch::GptOss);
    assert_eq!(
        fm.spec.swa,
        Some(SwaSpec {
            window: 128,
            period: 2
        })
    );
    assert!(fm.spec.swa.unwrap().is_swa(0) && !fm.spec.swa.unwrap().is_swa(1));

    // Gemma 3: every sixth block is global.
    let mut g3 = base("llama-3.1-8b");
    g3.arch = Arch::Gemma3;
    g3.tied_embeddings = true;
    g3.rope_freqs = false;
    let fm = roundtrip(
        &g3,
        "gemma3",
        vec![("attention.sliding_window", GgufValue::U32(1024))],
    );
    assert_eq!(
        fm.spec.swa,
        Some(SwaSpec {
            window: 1024,
            period: 6
        })
    );
    assert!(fm.spec.tied_embeddings);

    // Phi-3/4 (fused projections are just other tensor names to the reader).
    let mut phi = base("llama-3.1-8b");
    phi.arch = Arch::Phi3;
    phi.rope_freqs = false;
    assert_eq!(roundtrip(&phi, "phi3", vec![]).spec.arch, Arch::Phi3);
}

#[test]
fn deepseek2_current_and_old_conversions() {
    let mut r1 = base("deepseek-r1");
    r1.n_layer = 4; // 3 dense + 1 MoE, R1 widths
    let mla = r1.mla.unwrap();
    let common = |kmla: bool| {
        let mut v = vec![
            ("expert_count", GgufValue::U32(256)),
            ("expert_used_count", GgufValue::U32(8)),
            ("expert_shared_count", GgufValue::U32(1)),
            ("expert_feed_forward_length", GgufValue::U32(2048)),
            ("leading_dense_block_count", GgufValue::U32(3)),
            ("attention.kv_lora_rank", GgufValue::U32(512)),
            ("attention.q_lora_rank", GgufValue::U32(1536)),
            ("rope.dimension_count", GgufValue::U32(64)),
        ];
        if kmla {
            v.push(("attention.key_length_mla", GgufValue::U32(192)));
            v.push(("attention.value_length_mla", GgufValue::U32(128)));
        }
        v
    };
    // Current conversion: head_count_kv 1, key_length 576, value_length 512 (+ _mla keys).
    let mut new = r1.clone();
    (new.n_head_kv, new.head_dim_k, new.head_dim_v) = (1, 576, 512);
    let fm = roundtrip(&new, "deepseek2", common(true));
    assert!(!fm.mla_expanded_cache);
    assert_eq!(fm.spec.mla, Some(mla));
    assert_eq!(fm.spec.moe, r1.moe);
    // Old conversion: no _mla keys, per-head K/V of 192/128 over 128 KV heads.
    let fm = roundtrip(&r1, "deepseek2", common(false));
    assert!(fm.mla_expanded_cache);
    assert!(fm.notes.iter().any(|n| n.contains("predates")));
}

#[test]
fn unknown_architecture_is_exact_in_weights_and_says_kv_is_generic() {
    let spec = base("deepseek-r1-distill-llama-8b");
    let fm = roundtrip(&spec, "someday-arch", vec![]);
    assert_eq!(fm.spec.arch, Arch::Generic);
    assert!(fm.notes.iter().any(|n| n.contains("GENERIC")));
    let _ = enumerate_tensors(&fm.spec, MlaTensorLayout::Split);
}

/// llama.cpp's per-layer `head_count_kv` array (int32, as its converter writes it).
fn per_layer_kv(v: &[i32]) -> GgufValue {
    GgufValue::Array(GgufArray {
        elem_type: GgufValueType::I32,
        len: v.len() as u64,
        values: v.iter().map(|&x| GgufValue::I32(x)).collect(),
    })
}

/// LFM2-1.2B widths (LiquidAI/LFM2-1.2B config.json), its first 4 of 16 blocks.
fn lfm2_spec() -> ModelSpec {
    let mut m = base("llama-3.1-8b");
    m.arch = Arch::Lfm2;
    (m.n_embd, m.n_layer, m.n_head, m.n_head_kv) = (2048, 4, 32, 8);
    (m.head_dim_k, m.head_dim_v, m.n_ff, m.n_vocab) = (64, 64, 8192, 65536);
    (m.tied_embeddings, m.rope_freqs, m.qk_norm) = (true, false, true);
    m.n_ctx_train = 128000;
    m.recurrent = Some(RecurrentSpec {
        layers: vec![
            LayerKind::ShortConv,
            LayerKind::ShortConv,
            LayerKind::Attention,
            LayerKind::ShortConv,
        ],
        conv_l_cache: 3,
        ssm: None,
    });
    m
}

#[test]
fn lfm2_short_convolution_blocks_from_the_header() {
    let spec = lfm2_spec();
    let fm = roundtrip(
        &spec,
        "lfm2",
        vec![
            ("attention.head_count_kv", per_layer_kv(&[0, 0, 8, 0])),
            ("shortconv.l_cache", GgufValue::U32(3)),
        ],
    );
    assert_eq!(fm.spec.arch, Arch::Lfm2);
    assert_eq!(fm.spec.n_head_kv, 8);
    assert_eq!(fm.spec.recurrent, spec.recurrent);
    assert_eq!(fm.spec.n_attention_layers(), 1);
    assert!(fm.notes.is_empty(), "{:?}", fm.notes);
    // The tensors llama.cpp's loader expects (models/lfm2.cpp), nothing else.
    let names: Vec<String> = enumerate_tensors(&spec, MlaTensorLayout::Split)
        .iter()
        .map(|t| t.name().into_owned())
        .collect();
    for n in [
        "token_embd_norm.weight",
        "blk.0.shortconv.conv.weight",
        "blk.0.shortconv.in_proj.weight",
        "blk.0.shortconv.out_proj.weight",
        "blk.2.attn_q_norm.weight",
        "blk.2.attn_k.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
    }
    assert!(!names.iter().any(|x| x == "blk.0.attn_q.weight"));
    assert!(!names.iter().any(|x| x == "blk.2.shortconv.conv.weight"));
    assert!(!names.iter().any(|x| x == "output.weight"));
}

#[test]
fn blocks_without_kv_heads_in_an_unknown_architecture_are_named_not_sized_as_attention() {
    let mut spec = lfm2_spec();
    spec.arch = Arch::Generic;
    spec.qk_norm = false;
    spec.recurrent = Some(RecurrentSpec {
        layers: vec![
            LayerKind::Unknown,
            LayerKind::Unknown,
            LayerKind::Attention,
            LayerKind::Unknown,
        ],
        conv_l_cache: 0,
        ssm: None,
    });
    let fm = roundtrip(
        &spec,
        "someday-hybrid",
        vec![
            ("attention.head_count_kv", per_layer_kv(&[0, 0, 8, 0])),
            ("ssm.conv_kernel", GgufValue::U32(4)),
        ],
    );
    assert_eq!(fm.spec.recurrent, spec.recurrent);
    assert_eq!(fm.spec.n_attention_layers(), 1);
    let note = fm
        .notes
        .iter()
        .find(|n| n.contains("no KV heads"))
        .expect("a note naming the blocks");
    assert!(note.contains("[0, 1, 3]") && note.contains("someday-hybrid.ssm.conv_kernel"));
}

/// The `ssm.*` keys of a Mamba-2 mixer or gated delta net.
fn ssm_keys(
    d_conv: u32,
    d_inner: u32,
    d_state: u32,
    n_group: u32,
    dt_rank: u32,
) -> Vec<(&'static str, GgufValue)> {
    vec![
        ("ssm.conv_kernel", GgufValue::U32(d_conv)),
        ("ssm.inner_size", GgufValue::U32(d_inner)),
        ("ssm.state_size", GgufValue::U32(d_state)),
        ("ssm.group_count", GgufValue::U32(n_group)),
        ("ssm.time_step_rank", GgufValue::U32(dt_rank)),
    ]
}

/// canirun's KV part (KV cache plus recurrent state) at `-c 4096 -np 1 -fa on`, f16.
fn kv_and_state_mib(m: &ModelSpec) -> f64 {
    use canirun_core::memory::{llama_cpp, FlashAttn, RunSettings};
    let s = RunSettings {
        n_ctx: 4096,
        n_parallel: 1,
        flash_attn: FlashAttn::On,
        ..Default::default()
    };
    let r = llama_cpp::resolve_settings(m, &s).unwrap();
    llama_cpp::kv_cache(m, &s, &r).bytes.as_mib()
}

/// Hybrid and recurrent architectures from their GGUF headers: which blocks are
/// recurrent, and the KV cache plus recurrent state against what llama.cpp
/// 0c1e57098 allocated for the same widths (data/llama_cpp_cpu_buffers.csv rows
/// `-c 4096 -np 1 -fa on -ctk f16 -ctv f16` of the fixtures in
/// scripts/make_fixtures.py: kv_MiB + rs_MiB).
#[test]
fn recurrent_state_of_qwen3next_mamba2_and_nemotron_h_from_the_header() {
    // Qwen3-Next-80B-A3B widths, 2 blocks with full_attention_interval 2.
    let mut q = base("llama-3.1-8b");
    (q.n_embd, q.n_layer, q.n_head, q.n_head_kv) = (2048, 2, 16, 2);
    (q.head_dim_k, q.head_dim_v, q.n_ff, q.n_vocab) = (256, 256, 5120, 151936);
    let mut extra = ssm_keys(4, 4096, 128, 16, 32);
    extra.push(("full_attention_interval", GgufValue::U32(2)));
    let fm = roundtrip(&q, "qwen3next", extra);
    assert_eq!(fm.spec.arch, Arch::Qwen3Next);
    let rec = fm.spec.recurrent.clone().expect("recurrent blocks");
    assert_eq!(rec.layers, vec![LayerKind::DeltaNet, LayerKind::Attention]);
    // llama_hparams::n_embd_r / n_embd_s: 3 × (4096 + 2 × 16 × 128), 128 × 4096.
    assert_eq!((rec.n_embd_r(2048), rec.n_embd_s()), (24576, 524288));
    // llama.cpp: KV 8.00 MiB + RS 2.09 MiB.
    assert!((kv_and_state_mib(&fm.spec) - (8.00 + 2.09)).abs() <= 0.006);
    assert!(fm.notes.is_empty(), "{:?}", fm.notes);

    // Mamba2-2.7B widths, 4 blocks: no attention at all.
    let mut m2 = base("llama-3.1-8b");
    (m2.n_embd, m2.n_layer, m2.n_vocab) = (2560, 4, 50288);
    let mut extra = ssm_keys(4, 5120, 128, 1, 80);
    extra.push(("attention.head_count", GgufValue::U32(0)));
    let fm = roundtrip(&m2, "mamba2", extra);
    assert_eq!(fm.spec.arch, Arch::Mamba2);
    assert_eq!(fm.spec.n_attention_layers(), 0);
    assert_eq!(
        fm.spec
            .recurrent
            .as_ref()
            .map(|r| r.count(LayerKind::Mamba2)),
        Some(4)
    );
    // llama.cpp: no KV cache, RS 10.25 MiB.
    assert!((kv_and_state_mib(&fm.spec) - 10.25).abs() <= 0.006);

    // Nemotron-H-4B widths, blocks M * - M: per-layer head_count_kv and
    // feed_forward_length tell Mamba-2, attention and MLP blocks apart.
    let mut nh = base("llama-3.1-8b");
    (nh.n_embd, nh.n_layer, nh.n_head, nh.n_head_kv) = (3072, 4, 32, 8);
    (nh.head_dim_k, nh.head_dim_v, nh.n_ff, nh.n_vocab) = (128, 128, 12288, 131072);
    let mut extra = ssm_keys(4, 7168, 128, 8, 112);
    extra.push(("attention.head_count_kv", per_layer_kv(&[0, 8, 0, 0])));
    extra.push(("feed_forward_length", per_layer_kv(&[0, 0, 12288, 0])));
    let fm = roundtrip(&nh, "nemotron_h", extra);
    assert_eq!(fm.spec.arch, Arch::NemotronH);
    assert_eq!(
        fm.spec.recurrent.as_ref().map(|r| r.layers.clone()),
        Some(vec![
            LayerKind::Mamba2,
            LayerKind::Attention,
            LayerKind::FeedForward,
            LayerKind::Mamba2
        ])
    );
    assert_eq!((fm.spec.n_head_kv, fm.spec.n_ff), (8, 12288));
    // llama.cpp: KV 16.00 MiB + RS 7.21 MiB.
    assert!((kv_and_state_mib(&fm.spec) - (16.00 + 7.21)).abs() <= 0.006);
}
