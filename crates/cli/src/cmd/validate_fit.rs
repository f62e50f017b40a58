//! `canirun validate fit`: canirun's `--fit` against the decisions of a real
//! `llama-fit-params` (scripts/fit_params_rpc.sh: local RPC servers stand in
//! for GPUs, free memory imposed through the margin), and, with `--probes`,
//! canirun's projection of every configuration llama.cpp tried.

use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::memory::{Backend, FlashAttn, OutputRows, RunSettings};
use canirun_core::model::ModelSpec;
use canirun_core::placement::llama_cpp::fit::{
    fit, DeviceLayers, FitDevice, FitRequest, LayerFraction, PlaceProjector, Trial,
};
use canirun_core::placement::{DeviceSpec, Loc};
use canirun_core::units::Bytes;
use canirun_io::model_file::FileModel;
use std::collections::HashMap;
use std::path::Path;

/// llama-fit-params's default margin and the free memory the RPC devices
/// reported are in the CSV; the devices listen on consecutive ports from this one.
const FIRST_RPC_PORT: u32 = 50152;

/// One compared decision.
#[derive(Debug, serde::Serialize)]
struct FitRow {
    line: usize,
    fixture: String,
    n_ctx: String,
    free_mib: String,
    llama_cpp: String,
    canirun: String,
    agree: bool,
    /// For a different decision: the projection that made it, canirun's and
    /// llama.cpp's (None: the searches themselves diverged).
    why: Option<String>,
}

/// One compared projection.
#[derive(Debug, serde::Serialize)]
struct ProbeRow {
    line: usize,
    fixture: String,
    n_ctx: u64,
    kind: String,
    device: usize,
    config: String,
    /// Model, KV, compute and their total, MiB.
    llama_cpp_mib: [i64; 4],
    /// The same, canirun.
    canirun_mib: [i64; 4],
    /// Total, canirun − llama.cpp.
    diff_mib: i64,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    rows: Vec<FitRow>,
    probes: Vec<ProbeRow>,
    agree: usize,
    total: usize,
}

fn fit_settings(n_ctx: u64) -> RunSettings {
    // llama-fit-params runs with the library defaults: one logit row per token
    // of the micro-batch; flash attention resolved to on for these devices.
    RunSettings {
        n_ctx,
        flash_attn: FlashAttn::On,
        backend: Backend::Cpu,
        outputs: OutputRows::PerToken,
        ..Default::default()
    }
}

/// A fit onto RPC devices that each report `reported` free, with the free
/// memory `free[i]` imposed through the margin (as scripts/fit_params_rpc.sh does).
fn rpc_request<'a>(
    spec: &'a ModelSpec,
    settings: RunSettings,
    reported: Bytes,
    free: &[Bytes],
) -> FitRequest<'a> {
    FitRequest {
        model: spec,
        settings,
        given: Default::default(),
        devices: free
            .iter()
            .enumerate()
            .map(|(i, f)| FitDevice {
                spec: DeviceSpec {
                    name: format!("RPC{i}"),
                    memory: reported,
                    backend: Backend::Cpu,
                },
                free: reported,
                margin: reported.saturating_sub(*f),
            })
            .collect(),
        host: None,
        n_ctx_min: 4096,
    }
}

/// Device names as llama-fit-params prints them for RPC devices
/// (`RPC0[127.0.0.1:PORT]`), canonicalised to `GPUi`.
fn canonical(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("RPC") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let port = tail
            .find("[127.0.0.1:")
            .filter(|p| tail[3..*p].chars().all(|c| c.is_ascii_digit()))
            .and_then(|p| {
                let num = &tail[p + 11..];
                let end = num.find(']')?;
                Some((p + 11 + end + 1, num[..end].parse::<u32>().ok()?))
            });
        match port {
            Some((len, port)) => {
                out.push_str(&format!("GPU{}", port.saturating_sub(FIRST_RPC_PORT)));
                rest = &tail[len..];
            }
            None => {
                out.push_str("RPC");
                rest = &tail[3..];
            }
        }
    }
    out.push_str(rest);
    out
}

struct Fixtures<'a> {
    dir: &'a Path,
    loaded: HashMap<String, FileModel>,
}

impl Fixtures<'_> {
    fn get(&mut self, name: &str) -> Result<&FileModel> {
        if !self.loaded.contains_key(name) {
            let fm = super::validate::load_fixture(self.dir, name)?;
            self.loaded.insert(name.to_string(), fm);
        }
        Ok(&self.loaded[name])
    }
}

fn mib_list(s: &str, line: usize) -> Result<Vec<u64>> {
    s.split('/')
        .map(|x| {
            x.trim()
                .parse::<u64>()
                .with_context(|| format!("line {line}: '{x}' is not a whole number of MiB"))
        })
        .collect()
}

/// Run `validate fit`.
pub fn run(file: &Path, probes: Option<&Path>, fixtures: &Path, json_out: bool) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}; crates/core/data/llama_fit_params_rpc.csv holds the measured decisions",
            file.display()
        )
    })?;
    let mut fx = Fixtures {
        dir: fixtures,
        loaded: HashMap::new(),
    };
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let col = |name: &str| super::validate::column(&h, file, name);
    let (c_fix, c_ctx, c_dev, c_free, c_out) = (
        col("fixture")?,
        col("n_ctx")?,
        col("device_free_MiB")?,
        col("imposed_free_MiB")?,
        col("fit_params_output")?,
    );
    // The probes file feeds both the explanations and the projection table.
    let probes_text = match probes {
        Some(p) => Some((
            p,
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        None => None,
    };
    let trace = match &probes_text {
        Some((p, text)) => Some(load_trace(p, text)?),
        None => None,
    };
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let fixture = rec[c_fix].to_string();
        let n_ctx = match &rec[c_ctx] {
            "auto" => 0,
            c => c
                .parse()
                .with_context(|| format!("line {line}: n_ctx '{c}'"))?,
        };
        let reported = Bytes::mib(
            rec[c_dev]
                .parse()
                .with_context(|| format!("line {line}: device_free_MiB"))?,
        );
        let free = mib_list(&rec[c_free], line)?;
        let fm = fx.get(&fixture)?;
        let req = rpc_request(
            &fm.spec,
            fit_settings(n_ctx),
            reported,
            &free.iter().map(|f| Bytes::mib(*f)).collect::<Vec<_>>(),
        );
        let got =
            fit(&req, &fm.weights).with_context(|| format!("line {line}: fitting {fixture}"))?;
        let ours = got.fit_params_line(|l| match l {
            Loc::Cpu => "CPU".into(),
            Loc::Gpu(i) => format!("GPU{i}"),
        });
        let theirs = canonical(&rec[c_out]);
        let why = match &trace {
            Some(t) if ours != theirs => explain(t, &fixture, &got, &free),
            _ => None,
        };
        rows.push(FitRow {
            line,
            fixture,
            n_ctx: rec[c_ctx].to_string(),
            free_mib: rec[c_free].to_string(),
            agree: ours == theirs,
            llama_cpp: theirs,
            canirun: ours,
            why,
        });
    }
    let probe_rows = match &probes_text {
        Some((p, text)) => compare_probes(p, text, &mut fx)?,
        None => Vec::new(),
    };
    let agree = rows.iter().filter(|r| r.agree).count();
    let total = rows.len();
    let rep = Report {
        rows,
        probes: probe_rows,
        agree,
        total,
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print_report(&rep);
    }
    // A decision that differs only because canirun projects a configuration on
    // the other side of the target is the memory model's error, stated above;
    // any other difference is a fault in the search.
    let unexplained = rep
        .rows
        .iter()
        .filter(|r| !r.agree && r.why.is_none())
        .count();
    if unexplained > 0 {
        bail!(
            "{unexplained} of {total} fit decisions differ from llama-fit-params without a projection that explains it{}",
            if probes.is_none() { " (pass --probes to look for one)" } else { "" }
        );
    }
    Ok(())
}

/// llama.cpp's projections by (fixture, context, configuration, devices):
/// whole MiB per device.
type TraceMap = HashMap<(String, u64, String, usize), Vec<i64>>;

fn load_trace(file: &Path, text: &str) -> Result<TraceMap> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let col = |name: &str| super::validate::column(&h, file, name);
    let c = [
        col("fixture")?,
        col("n_ctx_projected")?,
        col("kind")?,
        col("config")?,
        col("n_devices")?,
        col("device")?,
        col("total_MiB")?,
    ];
    let mut map = TraceMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let bad = || format!("{} line {}", file.display(), i + 2);
        let what = match &rec[c[2]] {
            "initial" | "min_ctx" => "as given".to_string(),
            "cpu_moe" => "all experts in RAM".to_string(),
            _ => rec[c[3]].to_string(),
        };
        let nd: usize = rec[c[4]].parse().with_context(bad)?;
        let dev: usize = rec[c[5]].parse().with_context(bad)?;
        let total: i64 = rec[c[6]].parse().with_context(bad)?;
        let n_ctx: u64 = rec[c[1]].parse().with_context(bad)?;
        let e = map
            .entry((rec[c[0]].to_string(), n_ctx, what, nd))
            .or_insert_with(|| vec![-1; nd]);
        if dev < nd {
            e[dev] = total;
        }
    }
    Ok(map)
}

fn probe_name(p: &canirun_core::placement::llama_cpp::fit::Probe) -> String {
    match p.kind {
        "initial" | "min_ctx" => "as given".into(),
        "cpu_moe" => "all experts in RAM".into(),
        _ => p
            .layers
            .iter()
            .map(|d| format!("{}/{}/{}", d.n_layer, d.n_part, d.overflow.code()))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// Why canirun's search ended elsewhere: the first configuration it projected
/// on the other side of a device's target than llama.cpp did, or, when only
/// the context differs, the two projections the context is interpolated from.
fn explain(
    trace: &TraceMap,
    fixture: &str,
    got: &canirun_core::placement::llama_cpp::fit::Fit,
    free: &[u64],
) -> Option<String> {
    let nd = free.len();
    let mut ctx_terms = Vec::new();
    for p in &got.probes {
        let what = probe_name(p);
        let theirs = trace.get(&(fixture.to_string(), p.n_ctx, what.clone(), nd))?;
        let ours: Vec<i64> = p.used.iter().map(|b| b.as_mib().floor() as i64).collect();
        for (d, (o, t)) in p.used.iter().zip(theirs).enumerate() {
            let target = free[d] as i64;
            // canirun's bytes are exact; llama.cpp's trace is floored to whole MiB.
            if (*o <= Bytes::mib(free[d])) != (*t <= target) {
                return Some(format!(
                    "{what} at -c {}: canirun projects {:.1} MiB on GPU{d}, llama.cpp {t} MiB; the target is {target} MiB",
                    p.n_ctx,
                    o.as_mib()
                ));
            }
        }
        if matches!(p.kind, "initial" | "min_ctx") {
            ctx_terms.push(format!(
                "-c {}: canirun {} MiB, llama.cpp {} MiB",
                p.n_ctx,
                ours.iter().sum::<i64>(),
                theirs.iter().sum::<i64>()
            ));
        }
    }
    (ctx_terms.len() == 2).then(|| {
        format!(
            "the context is interpolated between two projections ({}); their difference moves it",
            ctx_terms.join("; ")
        )
    })
}

fn print_report(rep: &Report) {
    let mut t = render::table(&[
        "line",
        "fixture",
        "-c",
        "free MiB",
        "llama-fit-params",
        "canirun",
        "",
    ]);
    for r in &rep.rows {
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(&r.fixture),
            comfy_table::Cell::new(&r.n_ctx),
            render::right(&r.free_mib),
            comfy_table::Cell::new(&r.llama_cpp),
            comfy_table::Cell::new(if r.agree { "same" } else { &r.canirun }),
            comfy_table::Cell::new(if r.agree { "ok" } else { "DIFFERS" }),
        ]);
    }
    println!("{t}");
    for r in rep.rows.iter().filter(|r| !r.agree) {
        match &r.why {
            Some(w) => println!("line {}: differs because {w}", r.line),
            None => println!("line {}: differs, and no projection explains it", r.line),
        }
    }
    if !rep.probes.is_empty() {
        let mut t = render::table(&[
            "fixture",
            "-c",
            "projection",
            "device",
            "layers/part/fraction",
            "llama.cpp model+KV+compute",
            "canirun model+KV+compute",
            "diff",
        ]);
        let show = |v: [i64; 4]| format!("{} + {} + {} = {}", v[0], v[1], v[2], v[3]);
        for p in &rep.probes {
            t.add_row(vec![
                comfy_table::Cell::new(&p.fixture),
                render::right(p.n_ctx),
                comfy_table::Cell::new(&p.kind),
                render::right(p.device),
                comfy_table::Cell::new(&p.config),
                render::right(show(p.llama_cpp_mib)),
                render::right(show(p.canirun_mib)),
                render::right(format!("{:+}", p.diff_mib)),
            ]);
        }
        println!("{t}");
        let mut d: Vec<i64> = rep.probes.iter().map(|p| p.diff_mib.abs()).collect();
        d.sort_unstable();
        println!(
            "projections: {} compared, median |diff| {} MiB, max {} MiB (llama.cpp prints whole MiB)",
            d.len(),
            d[d.len() / 2],
            d[d.len() - 1]
        );
    }
    println!(
        "summary: decisions={} agree={} differ={} (explained by a projection: {})",
        rep.total,
        rep.agree,
        rep.total - rep.agree,
        rep.rows
            .iter()
            .filter(|r| !r.agree && r.why.is_some())
            .count()
    );
}

fn fraction(code: &str) -> Option<LayerFraction> {
    Some(match code {
        "1" => LayerFraction::Attn,
        "2" => LayerFraction::Up,
        "3" => LayerFraction::Gate,
        "4" => LayerFraction::Moe,
        _ => return None,
    })
}

/// Every projection llama-fit-params printed against canirun's for the same
/// configuration (scripts/fit_params_probes.py writes the CSV).
fn compare_probes(file: &Path, text: &str, fx: &mut Fixtures) -> Result<Vec<ProbeRow>> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let col = |name: &str| super::validate::column(&h, file, name);
    let (c_fix, c_ctx, c_kind, c_nd, c_dev, c_cfg) = (
        col("fixture")?,
        col("n_ctx_projected")?,
        col("kind")?,
        col("n_devices")?,
        col("device")?,
        col("config")?,
    );
    let parts = [
        col("model_MiB")?,
        col("context_MiB")?,
        col("compute_MiB")?,
        col("total_MiB")?,
    ];
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let fixture = rec[c_fix].to_string();
        let n_ctx: u64 = rec[c_ctx]
            .parse()
            .with_context(|| format!("line {line}: n_ctx"))?;
        let device: usize = rec[c_dev]
            .parse()
            .with_context(|| format!("line {line}: device"))?;
        let kind = rec[c_kind].to_string();
        let cfg = rec[c_cfg].to_string();
        let fm = fx.get(&fixture)?;
        let n_dev: usize = rec[c_nd]
            .parse()
            .with_context(|| format!("line {line}: n_devices"))?;
        if device >= n_dev {
            bail!("line {line}: device {device} of {n_dev}");
        }
        let layers: Vec<DeviceLayers> = if kind == "probe" {
            cfg.split(';')
                .map(|d| {
                    let v: Vec<&str> = d.split('/').collect();
                    match (v.first(), v.get(1), v.get(2).and_then(|c| fraction(c))) {
                        (Some(a), Some(b), Some(overflow)) => Ok(DeviceLayers {
                            n_layer: a.parse()?,
                            n_part: b.parse()?,
                            overflow,
                        }),
                        _ => bail!("line {line}: config '{d}' is not n_layer/n_part/overflow_type"),
                    }
                })
                .collect::<Result<_>>()?
        } else {
            vec![]
        };
        let overflow_to = overflow_cpu_or_next(&layers);
        let trial = match kind.as_str() {
            "probe" => Trial::Layers {
                layers: &layers,
                overflow_to: &overflow_to,
            },
            "cpu_moe" => Trial::AllExpertsOnCpu,
            _ => Trial::Given,
        };
        // Every RPC device reports the same free memory, so the default split is even.
        let req = rpc_request(
            &fm.spec,
            fit_settings(n_ctx),
            Bytes::gib(1),
            &vec![Bytes::gib(1); n_dev],
        );
        let p = PlaceProjector::new(&req, &fm.weights);
        let placement = p.placement(n_ctx, trial)?;
        let d = &placement.devices[device + 1];
        // llama.cpp prints each part floored to whole MiB.
        let floor = |b: Bytes| b.as_mib().floor() as i64;
        let ours = [
            floor(d.weights),
            floor(d.kv),
            floor(d.compute),
            floor(d.weights + d.kv + d.compute),
        ];
        let mut theirs = [0i64; 4];
        for (t, c) in theirs.iter_mut().zip(parts) {
            *t = rec[c]
                .parse()
                .with_context(|| format!("line {line}: column {c}"))?;
        }
        out.push(ProbeRow {
            line,
            fixture,
            n_ctx,
            kind,
            device,
            config: cfg,
            llama_cpp_mib: theirs,
            canirun_mib: ours,
            diff_mib: ours[3] - theirs[3],
        });
    }
    Ok(out)
}

/// llama.cpp overflows a device's first partial layer to the next device when
/// it tries the extra partial layer on a device that is not the last; on the
/// last device, and for every other partial layer, to system memory. The probe
/// log does not say which, so a non-MoE fraction on a device that is not the
/// last is taken to overflow to the next one.
fn overflow_cpu_or_next(layers: &[DeviceLayers]) -> Vec<Loc> {
    let nd = layers.len();
    layers
        .iter()
        .enumerate()
        .map(|(id, d)| {
            if id + 1 < nd && d.overflow != LayerFraction::Moe {
                Loc::Gpu(id + 1)
            } else {
                Loc::Cpu
            }
        })
        .collect()
}
