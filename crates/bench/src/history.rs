//! The local history of bench runs: one SQLite file under the user's data
//! directory, one row per measured figure, keyed by the hardware
//! fingerprint, the engine and its version, the model file and the
//! settings; exported as rows in the columns of `benchmarks.csv`.

use crate::compare::RunMeta;
use crate::BenchError;
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One measured figure with its prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    /// What the run shares with the other figures of the same bench: the
    /// machine, engine, model and settings (flattened: the JSON keeps one
    /// level, the same keys as the table's columns).
    #[serde(flatten)]
    pub meta: RunMeta,
    /// llama-bench's test name: pp512, tg128, tg128 @ d4096.
    pub test: String,
    /// "prefill" or "decode".
    pub phase: String,
    /// Prompt tokens the server counted.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated: u64,
    /// Context depth of the test.
    pub depth: u64,
    /// Measured tokens per second (mean).
    pub measured_tps: f64,
    /// Standard deviation over repetitions.
    pub spread_tps: f64,
    /// Repetitions.
    pub repetitions: u32,
    /// Time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// canirun's prediction without local calibration, tokens per second.
    pub predicted_tps: Option<f64>,
    /// Share of the predicted time that scales with the phase's rate.
    pub scalable_share: Option<f64>,
}

/// One history row as a viewer shows it: its id, the run, and the
/// prediction's error ((predicted − measured) ÷ measured, as `canirun bench`
/// prints it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    /// The row's id (`canirun history`'s first column).
    pub id: i64,
    /// The run, as `canirun history --json` prints it.
    pub run: Run,
    /// (predicted − measured) ÷ measured; `None` without a prediction.
    pub error: Option<f64>,
}

/// The history database.
pub struct History {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, fingerprint TEXT NOT NULL, hardware TEXT NOT NULL,
  n_devices INTEGER NOT NULL, engine TEXT NOT NULL, engine_version TEXT NOT NULL, model TEXT NOT NULL,
  params_b REAL NOT NULL, quant TEXT NOT NULL, model_size INTEGER NOT NULL, model_hash TEXT NOT NULL,
  settings TEXT NOT NULL, test TEXT NOT NULL, phase TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
  generated INTEGER NOT NULL, depth INTEGER NOT NULL, measured_tps REAL NOT NULL, spread_tps REAL NOT NULL,
  repetitions INTEGER NOT NULL, ttft_s REAL, predicted_tps REAL, scalable_share REAL, memory_bytes INTEGER);
CREATE INDEX IF NOT EXISTS runs_machine ON runs (fingerprint, engine);
CREATE TABLE IF NOT EXISTS calibration (
  fingerprint TEXT NOT NULL, engine TEXT NOT NULL, bandwidth_factor REAL NOT NULL,
  compute_factor REAL NOT NULL, decode_runs INTEGER NOT NULL, prefill_runs INTEGER NOT NULL,
  time INTEGER NOT NULL, PRIMARY KEY (fingerprint, engine));
";

const COLUMNS: &str = "time, fingerprint, hardware, n_devices, engine, engine_version, model, params_b, quant, model_size, model_hash, settings, test, phase, prompt_tokens, generated, depth, measured_tps, spread_tps, repetitions, ttft_s, predicted_tps, scalable_share, memory_bytes";

/// A stored local calibration: this machine's factors for one engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredCalibration {
    /// Effective bandwidth ÷ the model's.
    pub bandwidth_factor: f64,
    /// Effective compute ÷ the model's.
    pub compute_factor: f64,
    /// Decode figures fitted.
    pub decode_runs: u32,
    /// Prefill figures fitted.
    pub prefill_runs: u32,
}

/// Where the history lives: `$CANIRUN_HISTORY`, else the user's data
/// directory (`$XDG_DATA_HOME/canirun`, `~/.local/share/canirun`, or
/// `~/Library/Application Support/canirun` on a Mac).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CANIRUN_HISTORY") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    let dir = if cfg!(target_os = "macos") {
        home.join("Library/Application Support")
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"))
    };
    dir.join("canirun").join("history.sqlite")
}

/// A stable key for the hardware: the same machine gives the same key
/// across runs (no free memory or measured bandwidth in it).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 (first 16 hex digits) of a model file's first MiB: the GGUF
/// header with its tensor list, enough to tell files apart without reading
/// gigabytes.
pub fn model_hash(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let d = Sha256::digest(&buf[..n]);
    Some(d.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

impl History {
    /// Open (creating the file, its folder and tables when missing).
    pub fn open(path: &Path) -> Result<History, BenchError> {
        let p = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let err = |source| BenchError::History {
            path: p.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(History { conn, path: p })
    }

    /// Open an existing history read-only, for a reader that must never
    /// change it (the web page's view): `None` when there is no file yet.
    pub fn open_read_only(path: &Path) -> Result<Option<History>, BenchError> {
        if !path.exists() {
            return Ok(None);
        }
        let p = path.display().to_string();
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| BenchError::History {
            path: p.clone(),
            source,
        })?;
        Ok(Some(History { conn, path: p }))
    }

    /// Every run with its id and its prediction's error, oldest first.
    pub fn entries(&self) -> Result<Vec<HistoryEntry>, BenchError> {
        Ok(self
            .list(None, None)?
            .into_iter()
            .map(|(id, run)| HistoryEntry {
                id,
                error: run
                    .predicted_tps
                    .filter(|_| run.measured_tps > 0.0)
                    .map(|p| (p - run.measured_tps) / run.measured_tps),
                run,
            })
            .collect())
    }

    fn err(&self, source: rusqlite::Error) -> BenchError {
        BenchError::History {
            path: self.path.clone(),
            source,
        }
    }

    /// Add one run; returns its id.
    pub fn add(&self, r: &Run) -> Result<i64, BenchError> {
        let m = &r.meta;
        self.conn
            .execute(
                &format!("INSERT INTO runs ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"),
                params![
                    m.time, m.fingerprint, m.hardware, m.n_devices, m.engine, m.engine_version, m.model,
                    m.params_b, m.quant, m.model_size as i64, m.model_hash, m.settings, r.test, r.phase,
                    r.prompt_tokens as i64, r.generated as i64, r.depth as i64, r.measured_tps,
                    r.spread_tps, r.repetitions, r.ttft_s, r.predicted_tps, r.scalable_share,
                    m.memory_bytes.map(|b| b as i64)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs, oldest first; only this machine's and engine's when given.
    pub fn list(
        &self,
        fingerprint: Option<&str>,
        engine: Option<&str>,
    ) -> Result<Vec<(i64, Run)>, BenchError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, {COLUMNS} FROM runs WHERE (?1 IS NULL OR fingerprint = ?1) AND (?2 IS NULL OR engine = ?2) ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![fingerprint, engine], |row| {
                Ok((
                    row.get(0)?,
                    Run {
                        meta: RunMeta {
                            time: row.get(1)?,
                            fingerprint: row.get(2)?,
                            hardware: row.get(3)?,
                            n_devices: row.get(4)?,
                            engine: row.get(5)?,
                            engine_version: row.get(6)?,
                            model: row.get(7)?,
                            params_b: row.get(8)?,
                            quant: row.get(9)?,
                            model_size: row.get::<_, i64>(10)? as u64,
                            model_hash: row.get(11)?,
                            settings: row.get(12)?,
                            memory_bytes: row.get::<_, Option<i64>>(24)?.map(|m| m as u64),
                        },
                        test: row.get(13)?,
                        phase: row.get(14)?,
                        prompt_tokens: row.get::<_, i64>(15)? as u64,
                        generated: row.get::<_, i64>(16)? as u64,
                        depth: row.get::<_, i64>(17)? as u64,
                        measured_tps: row.get(18)?,
                        spread_tps: row.get(19)?,
                        repetitions: row.get(20)?,
                        ttft_s: row.get(21)?,
                        predicted_tps: row.get(22)?,
                        scalable_share: row.get(23)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Store this machine's calibration for `engine`, replacing an older one.
    pub fn save_calibration(
        &self,
        fingerprint: &str,
        engine: &str,
        c: &StoredCalibration,
        time: i64,
    ) -> Result<(), BenchError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO calibration VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![
                    fingerprint,
                    engine,
                    c.bandwidth_factor,
                    c.compute_factor,
                    c.decode_runs,
                    c.prefill_runs,
                    time
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// This machine's calibration for `engine`, if `canirun calibrate` stored one.
    pub fn calibration(
        &self,
        fingerprint: &str,
        engine: &str,
    ) -> Result<Option<StoredCalibration>, BenchError> {
        let mut st = self
            .conn
            .prepare("SELECT bandwidth_factor, compute_factor, decode_runs, prefill_runs FROM calibration WHERE fingerprint = ?1 AND engine = ?2")
            .map_err(|e| self.err(e))?;
        let mut rows = st
            .query_map(params![fingerprint, engine], |r| {
                Ok(StoredCalibration {
                    bandwidth_factor: r.get(0)?,
                    compute_factor: r.get(1)?,
                    decode_runs: r.get(2)?,
                    prefill_runs: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }
}

/// Write `runs` as rows in the columns of `benchmarks.csv` (hardware,
/// n_devices, model, params_b, quant, model_size_gib, test, tokens_per_s,
/// engine, version, source, notes, confidence).
pub fn export_csv<W: std::io::Write>(runs: &[Run], w: W) -> Result<(), BenchError> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record([
        "hardware",
        "n_devices",
        "model",
        "params_b",
        "quant",
        "model_size_gib",
        "test",
        "tokens_per_s",
        "engine",
        "version",
        "source",
        "notes",
        "confidence",
    ])?;
    for r in runs {
        let m = &r.meta;
        let notes = format!(
            "canirun bench: mean of {} repetitions, sd {:.2} tok/s; prompt {} tokens, {} generated; settings: {}; predicted {}",
            r.repetitions,
            r.spread_tps,
            r.prompt_tokens,
            r.generated,
            m.settings,
            r.predicted_tps.map(|p| format!("{p:.2} tok/s")).unwrap_or_else(|| "none".into()),
        );
        out.write_record([
            m.hardware.clone(),
            m.n_devices.to_string(),
            m.model.clone(),
            format!("{:.2}", m.params_b),
            m.quant.clone(),
            format!("{:.2}", m.model_size as f64 / (1u64 << 30) as f64),
            r.test.clone(),
            format!("{:.2}", r.measured_tps),
            m.engine.clone(),
            m.engine_version.clone(),
            format!("local run {} (hardware {})", m.time, m.fingerprint),
            notes,
            "measured-locally".into(),
        ])?;
    }
    out.flush().map_err(|source| BenchError::Io {
        path: "export".into(),
        source,
    })?;
    Ok(())
}

/// This machine's stored calibration for `engine` from the history at
/// [`default_path`], for predictions outside `canirun bench`: `None` when
/// there is no history file (it is not created here) or no calibration.
pub fn stored_local(
    fingerprint: &str,
    engine: &str,
) -> Option<canirun_core::speed::local::LocalCalibration> {
    let path = default_path();
    if !path.exists() {
        return None;
    }
    let c = History::open(&path)
        .ok()?
        .calibration(fingerprint, engine)
        .ok()??;
    Some(c.into())
}

impl From<StoredCalibration> for canirun_core::speed::local::LocalCalibration {
    fn from(c: StoredCalibration) -> Self {
        canirun_core::speed::local::LocalCalibration {
            bandwidth_factor: c.bandwidth_factor,
            compute_factor: c.compute_factor,
            decode_runs: c.decode_runs as usize,
            prefill_runs: c.prefill_runs as usize,
        }
    }
}

impl From<canirun_core::speed::local::LocalCalibration> for StoredCalibration {
    fn from(c: canirun_core::speed::local::LocalCalibration) -> Self {
        StoredCalibration {
            bandwidth_factor: c.bandwidth_factor,
            compute_factor: c.compute_factor,
            decode_runs: c.decode_runs as u32,
            prefill_runs: c.prefill_runs as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        Run {
            meta: RunMeta {
                time: 1_800_000_000,
                fingerprint: "0123456789abcdef".into(),
                hardware: "test machine".into(),
                n_devices: 0,
                engine: "llama.cpp".into(),
                engine_version: "b1".into(),
                model: "m".into(),
                params_b: 0.27,
                quant: "Q4_K_M".into(),
                model_size: 253_000_000,
                model_hash: "h".into(),
                settings: "llama-server -m m.gguf".into(),
                memory_bytes: Some(400_000_000),
            },
            test: "tg16".into(),
            phase: "decode".into(),
            prompt_tokens: 8,
            generated: 16,
            depth: 0,
            measured_tps: 40.0,
            spread_tps: 1.0,
            repetitions: 3,
            ttft_s: Some(0.1),
            predicted_tps: Some(50.0),
            scalable_share: Some(0.9),
        }
    }

    /// The flattened `meta` keeps `canirun history --json` one level deep,
    /// with exactly the history table's columns as keys (what it printed
    /// before `RunMeta` was shared).
    #[test]
    fn run_json_is_flat_with_the_table_columns() {
        let v = serde_json::to_value(run()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut columns: Vec<&str> = COLUMNS.split(", ").collect();
        keys.sort();
        columns.sort();
        assert_eq!(keys, columns);
        assert_eq!(v["engine"], "llama.cpp");
        assert_eq!(v["memory_bytes"], 400_000_000);
        assert_eq!(v["measured_tps"], 40.0);
    }

    /// A run written and read back is the same run.
    #[test]
    fn history_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();
        let r = run();
        let id = h.add(&r).unwrap();
        assert_eq!(h.list(None, None).unwrap(), vec![(id, r.clone())]);
        drop(h);
        let ro = History::open_read_only(&dir.path().join("h.sqlite"))
            .unwrap()
            .unwrap();
        let e = ro.entries().unwrap();
        assert_eq!(e.len(), 1);
        // predicted 50 against measured 40: 25 % too fast.
        assert_eq!(e[0].error, Some(0.25));
        assert!(ro.add(&r).is_err(), "a read-only history refuses writes");
        assert!(History::open_read_only(&dir.path().join("none.sqlite"))
            .unwrap()
            .is_none());
    }
}
