//! The REST handlers. Each takes its parameters from the query string (GET)
//! or a JSON object (POST), validates every one, runs the core (an estimate
//! on the async worker that received it, model loads and searches on the
//! blocking pool), and answers JSON with `"schema"` as the command line's
//! `--json` does for the same command.

use crate::error::ApiError;
use crate::inputs::{self, FetchPolicy, ModelCache, ModelKey};
use crate::params::{self, Params};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use canirun_core::commands::Runner;
use canirun_core::hardware::{Catalog, Target};
use canirun_core::pipeline::{self, CostFlags, PowerRequest, SCHEMA};
use canirun_core::search::{plan, recommend, table};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore};

/// Longest a catalog computation may take before the request gets a 504
/// (a plan over the whole catalog for R1 671B takes seconds).
const COMPUTE_DEADLINE: Duration = Duration::from_secs(20);

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    models: Arc<ModelCache>,
    detected: Arc<OnceCell<Target>>,
    /// Searches run at most this many at once, so that estimates keep
    /// answering while plans run.
    searches: Arc<Semaphore>,
    fixed_machine: Option<Arc<Target>>,
    /// The bench history `GET /api/history` reads (read-only): the server's
    /// own setting, never a path from a request.
    history: Arc<std::path::PathBuf>,
    fetch: FetchPolicy,
}

impl AppState {
    /// State that detects this machine on first use.
    pub fn new() -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState {
            models: Arc::new(ModelCache::default()),
            detected: Arc::new(OnceCell::new()),
            searches: Arc::new(Semaphore::new(cores.max(1))),
            fixed_machine: None,
            history: Arc::new(canirun_bench::history::default_path()),
            fetch: FetchPolicy::PublicHttps,
        }
    }

    /// This state reading the bench history at `path` (default: the user's,
    /// `canirun_bench::history::default_path`).
    pub fn with_history(self, path: std::path::PathBuf) -> AppState {
        AppState {
            history: Arc::new(path),
            ..self
        }
    }

    /// The bench history file this server reads.
    pub fn history_path(&self) -> std::path::PathBuf {
        self.history.as_ref().clone()
    }

    /// State whose "this machine" is `target` (tests: no detection).
    pub fn with_machine(target: Target) -> AppState {
        AppState {
            fixed_machine: Some(Arc::new(target)),
            ..AppState::new()
        }
    }

    /// The same state reading remote headers under `policy` (tests:
    /// [`FetchPolicy::LoopbackForTests`]; the server always uses the default).
    pub fn with_fetch_policy(self, policy: FetchPolicy) -> AppState {
        AppState {
            fetch: policy,
            ..self
        }
    }

    async fn machine(&self) -> Result<Target, ApiError> {
        if let Some(t) = &self.fixed_machine {
            return Ok((**t).clone());
        }
        self.detected
            .get_or_try_init(|| async {
                let catalog = Catalog::embedded().map_err(|e| ApiError::Internal(e.to_string()))?;
                tokio::task::spawn_blocking(move || {
                    canirun_io::detect::this_machine_target(catalog)
                })
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))
            })
            .await
            .cloned()
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

/// The raw parameters of a request: decoded query pairs (GET) or the pairs
/// of a JSON object body (POST). Bodies over the router's limit get 413
/// before they are read.
pub struct RawParams(Value);

impl<S: Send + Sync> FromRequest<S> for RawParams {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::POST {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| {
                    let status = e.status();
                    (
                        status,
                        Json(json!({"error": e.body_text(), "field": "body", "status": status.as_u16()})),
                    )
                        .into_response()
                })?;
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid("body", format!("not JSON: {e}")).into_response())?;
            return Ok(RawParams(v));
        }
        let q: Query<Vec<(String, String)>> = Query::try_from_uri(req.uri()).map_err(|e| {
            ApiError::invalid("query", format!("the query string does not decode: {e}"))
                .into_response()
        })?;
        let mut obj = serde_json::Map::new();
        for (k, v) in q.0 {
            match obj.get_mut(&k) {
                Some(Value::Array(a)) => a.push(Value::String(v)),
                _ => {
                    obj.insert(k, Value::Array(vec![Value::String(v)]));
                }
            }
        }
        Ok(RawParams(Value::Object(obj)))
    }
}

impl RawParams {
    fn params(&self, known: &[&[&str]]) -> Result<Params, ApiError> {
        let all: Vec<&str> = known.iter().flat_map(|k| k.iter().copied()).collect();
        Params::from_json(&self.0, &all)
    }
}

/// Run `f` on the blocking pool under the compute deadline.
async fn compute<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::time::timeout(COMPUTE_DEADLINE, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ApiError::Internal(format!("the computation failed: {e}"))),
        Err(_) => Err(ApiError::Timeout(format!(
            "the computation took more than {} s",
            COMPUTE_DEADLINE.as_secs()
        ))),
    }
}

/// The model parameters.
const MODEL: &[&str] = &["model", "quant", "imatrix", "mla_tensors"];
/// The workload and output parameters of an estimate.
const WORKLOAD: &[&str] = &[
    "depths",
    "prompt",
    "thinking",
    "answer",
    "power",
    "runners",
    "kwh_price",
    "tokens_per_day",
];

/// Load the model a request names (checked first: no files, no private hosts).
async fn model(state: &AppState, key: ModelKey) -> Result<Arc<pipeline::Model>, ApiError> {
    inputs::check_model_ref(&key.name, state.fetch).await?;
    // A catalog model built before answers without a trip to the blocking pool.
    if let Some(m) = state.models.cached(&key) {
        return Ok(m);
    }
    let cache = state.models.clone();
    let policy = state.fetch;
    let deadline = if canirun_io::load::is_remote(&key.name) {
        inputs::REMOTE_DEADLINE
    } else {
        COMPUTE_DEADLINE
    };
    match tokio::time::timeout(
        deadline,
        tokio::task::spawn_blocking(move || cache.load(&key, policy)),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ApiError::Internal(e.to_string())),
        Err(_) => Err(ApiError::Timeout(format!(
            "reading the model took more than {} s",
            deadline.as_secs()
        ))),
    }
}

/// `/api/estimate`: one Report, as `canirun MODEL [flags] --json`. With
/// `depths`, `prompt`, `thinking` or `answer`, as `canirun speed … --json`
/// (which also writes no commands); `power=on` adds the power and cost
/// section with the defaults of `canirun compare`; `runners` picks the
/// engines to write commands for (`all`, or a list).
pub async fn estimate(
    State(state): State<AppState>,
    raw: RawParams,
) -> Result<JsonBytes, ApiError> {
    let p = raw.params(&[
        MODEL,
        inputs::HARDWARE,
        params::SETTINGS,
        inputs::ENGINE,
        inputs::CLUSTER,
        WORKLOAD,
    ])?;
    let server = inputs::is_server(&p)?;
    let key = ModelKey::from_params(&p, server)?;
    let engine = inputs::engine(&p)?;
    let cluster = inputs::cluster(&p)?.map(|o| {
        (
            o.nodes,
            o.interconnect.map(str::to_string),
            o.dp_attention,
            o.engine.to_string(),
            o.run,
        )
    });
    let hw = inputs::target(&p, &state.machine().await?)?;
    let settings = params::settings(&p, hw.backend)?;
    let depths = params::list_ctx(&p, "depths")?;
    let prompt = p.count("prompt", 1, 10_000_000)?;
    let thinking = p.count("thinking", 0, 10_000_000)?;
    let answer = p.count("answer", 0, 10_000_000)?;
    // `kwh_price` and `tokens_per_day` are `canirun compare`'s `--kwh-price`
    // and `--tokens-per-day`, checked by the same code; either turns power on.
    let kwh = p.get("kwh_price");
    let tokens_per_day = p.number("tokens_per_day", 0.0, 1e15)?;
    let power = if p.flag("power")? || kwh.is_some() || tokens_per_day.is_some() {
        Some(
            PowerRequest::from_flags(&CostFlags {
                kwh,
                tokens_per_day,
                ..CostFlags::default()
            })
            .map_err(|e| {
                let m = e.to_string();
                // The message names the flag it refuses.
                let field = if m.contains("--tokens-per-day") {
                    "tokens_per_day"
                } else {
                    "kwh_price"
                };
                ApiError::invalid(field, m)
            })?,
        )
    } else {
        None
    };
    let runners = match p.get("runners") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("all") => Some(Runner::ALL.to_vec()),
        Some(v) => Some(
            v.split(',')
                .map(|r| {
                    Runner::parse(r.trim()).ok_or_else(|| {
                        ApiError::invalid(
                            "runners",
                            format!("'{}' is not an engine; use all, llama-cpp, ollama, vllm, sglang, mlx or exllamav2", r.trim()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let model = model(&state, key).await?;
    let work = move || {
        let mut req = pipeline::Request {
            model: &model,
            settings,
            engine,
            hardware: &hw,
            workload: pipeline::Workload::default(),
            power,
            commands: pipeline::CommandOptions::default(),
            local: None,
        };
        let speed_command =
            depths.is_some() || prompt.is_some() || thinking.is_some() || answer.is_some();
        if let Some(d) = depths {
            // `canirun speed` drops depths beyond the context of one sequence.
            let per_seq = (req.settings.n_ctx / req.settings.n_parallel.max(1)).max(1);
            let mut d: Vec<u64> = d.into_iter().filter(|&x| x <= per_seq).collect();
            if d.is_empty() {
                d.push(0);
            }
            req.workload.depths = d;
        }
        if let Some(x) = prompt {
            req.workload.prompt = x;
        }
        if let Some(x) = thinking {
            req.workload.thinking = x;
        }
        if let Some(x) = answer {
            req.workload.answer = x;
        }
        if speed_command {
            req.commands.runners.clear();
        }
        if let Some(r) = runners {
            req.commands.runners = r;
        }
        if let Some((nodes, interconnect, dp_attention, engine, run)) = cluster {
            // A cluster: the Report over all its devices, with `cluster`.
            let plan = canirun_core::cluster::plan_request(
                &req,
                &canirun_core::cluster::ClusterOptions {
                    nodes,
                    interconnect: interconnect.as_deref(),
                    dp_attention,
                    engine: &engine,
                    run,
                    unlike: vec![],
                },
            )
            .map_err(|e| ApiError::invalid("nodes", e.to_string()))?;
            // Straight to bytes, as a plain estimate: the Report's fields,
            // then `cluster`, with no tree of values built in between.
            let answer = ClusterAnswer {
                schema: plan.report.is_none().then_some(SCHEMA),
                report: plan.report.as_ref(),
                cluster: &plan,
            };
            return serde_json::to_vec(&answer)
                .map(JsonBytes)
                .map_err(|e| ApiError::Internal(e.to_string()));
        }
        let r =
            pipeline::estimate(&req).map_err(|e| ApiError::invalid("settings", e.to_string()))?;
        // Straight to bytes: the Report is the answer, with no tree of
        // values built in between.
        serde_json::to_vec(&r)
            .map(JsonBytes)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    // An estimate is a fraction of a millisecond of CPU (R1 671B with `--fit`
    // about 2 ms): it runs on the async worker thread that received it (one
    // per core), not on the blocking pool, whose two thread hand-offs per
    // request cost more than the estimate itself (server CPU per request
    // 0.46 -> 0.29 ms in scripts/web-load-test.sh). Model loads and searches,
    // which take longer, still go to the blocking pool.
    work()
}

/// `/api/estimate`'s answer for a cluster: the pipeline's Report over all
/// the cluster's devices with `cluster` (the plan) after its fields. exo
/// places layers itself, so its plan has no Report: the answer is then the
/// schema version and `cluster` alone.
#[derive(serde::Serialize)]
struct ClusterAnswer<'a> {
    /// Only when there is no Report (which carries its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<u32>,
    #[serde(flatten)]
    report: Option<&'a canirun_core::pipeline::Report>,
    cluster: &'a canirun_core::cluster::ClusterPlan,
}

/// A JSON answer already serialised (on the blocking pool, off the async threads).
pub struct JsonBytes(Vec<u8>);

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// The plan parameters.
const PLAN: &[&str] = &["min_tps", "ctx", "budget", "max_power", "top"];

/// `/api/plan`: what to buy, as `canirun plan MODEL --json`.
pub async fn plan(State(state): State<AppState>, raw: RawParams) -> Result<Json<Value>, ApiError> {
    let p = raw.params(&[MODEL, PLAN])?;
    let key = ModelKey::from_params(&p, false)?;
    let req = plan::PlanRequest {
        min_tps: p.number("min_tps", 0.0, 100_000.0)?.unwrap_or(10.0),
        ctx: p
            .parse("ctx", canirun_core::flags::parse_ctx_given)?
            .unwrap_or(32768),
        budget: p.number("budget", 0.0, 1e9)?,
        max_power: p.number("max_power", 0.0, 1e7)?,
        top: p.count("top", 1, 50)?.unwrap_or(5) as usize,
        prices: vec![],
    };
    let model = model(&state, key).await?;
    let _permit = state
        .searches
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    compute(move || {
        let t0 = Instant::now();
        let res =
            plan::plan(&model, &req).map_err(|e| ApiError::invalid("model", e.to_string()))?;
        Ok(json!({
            "schema": SCHEMA,
            "model": model.info, "quant": model.quant_label, "request": req,
            "result": res, "seconds": t0.elapsed().as_secs_f64(),
            "notes": plan::NOTES,
        }))
    })
    .await
    .map(Json)
}

/// The recommend parameters.
const RECOMMEND: &[&str] = &["min_tps", "min_ctx", "family", "top"];

/// `/api/recommend`: the best R1 variant for the hardware, as `canirun recommend --json`.
pub async fn recommend(
    State(state): State<AppState>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let p = raw.params(&[inputs::HARDWARE, RECOMMEND])?;
    let hw = inputs::target(&p, &state.machine().await?)?;
    let req = recommend::RecommendRequest {
        min_tps: p.number("min_tps", 0.0, 100_000.0)?,
        min_ctx: p
            .parse("min_ctx", canirun_core::flags::parse_ctx)?
            .unwrap_or(4096),
        family: p.get("family").unwrap_or("deepseek-r1").to_string(),
        top: p.count("top", 1, 50)?.unwrap_or(5) as usize,
    };
    let _permit = state
        .searches
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    compute(move || {
        let settings = canirun_core::memory::RunSettings {
            backend: hw.backend,
            ..Default::default()
        };
        let res = recommend::recommend(&hw, &settings, &req)
            .map_err(|e| ApiError::invalid("family", e.to_string()))?;
        Ok(json!({
            "schema": SCHEMA, "hardware": hw, "considered": res.considered,
            "runnable": res.runnable, "picks": res.picks,
        }))
    })
    .await
    .map(Json)
}

/// The table parameters.
const TABLE: &[&str] = &["quants", "family", "mla_tensors"];

/// `/api/table`: "VRAM at a glance", as `canirun table --json`.
pub async fn table(State(_): State<AppState>, raw: RawParams) -> Result<Json<Value>, ApiError> {
    let p = raw.params(&[TABLE, params::SETTINGS])?;
    // `canirun table` sizes for CUDA unless --backend says otherwise.
    let s = params::settings(&p, canirun_core::memory::Backend::Cuda)?;
    let quants: Vec<String> = p
        .get("quants")
        .unwrap_or("Q4_K_M,Q8_0")
        .split(',')
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    if quants.len() > 16 {
        return Err(ApiError::invalid("quants", "at most 16 quantizations"));
    }
    let family = p.get("family").unwrap_or("deepseek-r1").to_string();
    let layout = match p.get("mla_tensors") {
        Some("fused") => canirun_core::model::MlaTensorLayout::Fused,
        Some("split") | None => canirun_core::model::MlaTensorLayout::Split,
        Some(_) => return Err(ApiError::invalid("mla_tensors", "use split or fused")),
    };
    compute(move || {
        let rows = table::table(&family, &quants, &s, layout)
            .map_err(|e| ApiError::invalid("quants", e.to_string()))?;
        Ok(json!({"schema": SCHEMA, "settings": s, "rows": rows}))
    })
    .await
    .map(Json)
}

/// `/api/models`: the model catalog, for the search box.
pub async fn models() -> Json<Value> {
    let list: Vec<Value> = canirun_core::model::catalog::catalog()
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "name": e.name, "family": e.family, "hf_repo": e.hf_repo,
                "ollama": e.ollama, "aliases": e.aliases, "params": e.params_published,
            })
        })
        .collect();
    Json(json!({"schema": SCHEMA, "models": list}))
}

/// `/api/hardware`: the hardware catalog, for the search box.
pub async fn hardware() -> Result<Json<Value>, ApiError> {
    let catalog = Catalog::embedded().map_err(|e| ApiError::Internal(e.to_string()))?;
    let list: Vec<Value> = catalog
        .devices()
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "name": d.name, "vendor": d.vendor, "kind": d.kind,
                "memory": d.memory, "bandwidth": d.bandwidth, "tdp": d.tdp,
                "price_usd": d.price_usd,
            })
        })
        .collect();
    Ok(Json(json!({"schema": SCHEMA, "hardware": list})))
}

/// `/api/machine`: this machine, as detected when first asked (`canirun hw`).
pub async fn machine(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let t = state.machine().await?;
    Ok(Json(json!({"schema": SCHEMA, "hardware": t})))
}
