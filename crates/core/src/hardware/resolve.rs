//! Names as people write them → catalog devices.
//!
//! Accepted forms: ids and aliases (`rtx-4090-24gb`, `4090`, `h100-sxm`),
//! counts (`2x4090`, `rtx3090*4`, `h100-sxm x8`), memory configurations
//! (`m3-ultra-512`, `mac-studio-m2-ultra-192gb`), free text from benchmark
//! tables ("NVIDIA GeForce RTX 4090 24GB", "Apple M1 Max (32-core GPU)
//! 64GB") and mixed sets joined by ` + `.
//!
//! Free text is matched on tokens: a device matches when the concatenation
//! of a contiguous run of the query's words equals one of the device's keys
//! (its name without vendor words, memory size and core counts, or an
//! alias). Whole tokens are required, so `a100` never matches the `A10`, and
//! the longest key wins, so `4070 ti super` beats `4070 ti` and `4070`.

use super::{Catalog, CatalogError, Device, DeviceKind, HardwareSet};
use crate::units::{Bytes, GIB};
use serde::Serialize;
use std::collections::HashMap;

/// Words that say nothing about which device is meant.
const NOISE: &[&str] = &[
    "nvidia", "geforce", "amd", "radeon", "intel", "apple", "tesla", "instinct", "mac", "studio",
    "mini", "macbook", "imac", "the",
];

/// Family prefixes people drop: `rtx 4090` is also written `4090`.
const FAMILY: &[&str] = &["rtx", "gtx", "rx", "arc"];

/// Words that name a variant; a match directly followed by one of them means
/// the user asked for a variant the catalog does not have (`4090 ti`).
const VARIANT: &[&str] = &[
    "ti",
    "super",
    "xt",
    "xtx",
    "d",
    "s",
    "max",
    "pro",
    "ultra",
    "sxm",
    "sxm2",
    "sxm4",
    "sxm5",
    "pcie",
    "nvl",
    "q",
    "ada",
    "blackwell",
    "plus",
];

/// Largest count accepted in `Nx…`; a bigger one is a typo.
const MAX_COUNT: u32 = 4096;

/// One resolved name: a device (configured if the name gave its memory) and a count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// What the user wrote.
    pub input: String,
    /// The device; for a Mac named with its memory, the chip with that memory.
    pub device: Device,
    /// How many of it.
    pub count: u32,
    /// What was assumed to pick it (shown so a wrong pick can be corrected).
    pub assumptions: Vec<String>,
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing was given.
    #[error("empty hardware name")]
    Empty,
    /// No device matches; `suggestions` are the closest ids.
    #[error("unknown hardware '{input}'{}; `canirun hw list` shows the catalog", fmt_suggestions(.suggestions))]
    Unknown {
        /// What the user wrote.
        input: String,
        /// Closest catalog entries, as `id (name)`.
        suggestions: Vec<String>,
    },
    /// The device exists but not with that memory size.
    #[error("'{input}': no {} with {memory_gb} GB; known: {}", .family, .known.join(", "))]
    MemoryMismatch {
        /// What the user wrote.
        input: String,
        /// The device family that matched.
        family: String,
        /// The memory asked for, in GB.
        memory_gb: f64,
        /// Configurations that exist.
        known: Vec<String>,
    },
    /// The count is not a whole number in 1..=4096.
    #[error("'{input}': {reason}")]
    BadCount {
        /// What the user wrote.
        input: String,
        /// What is wrong with the count.
        reason: String,
    },
    /// The catalog itself failed to load.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

fn fmt_suggestions(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; closest matches: {}", s.join(", "))
    }
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    in_parens: bool,
}

/// Lower-case alphanumeric words, each marked if it sat inside parentheses.
fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    let mut cur_in = false;
    for c in s.chars() {
        if c.is_alphanumeric()
            || (c == '.' && !cur.is_empty() && cur.chars().all(|d| d.is_ascii_digit()))
        {
            if cur.is_empty() {
                cur_in = depth > 0;
            }
            cur.extend(c.to_lowercase());
            continue;
        }
        if !cur.is_empty() {
            out.push(Tok {
                text: std::mem::take(&mut cur).trim_end_matches('.').to_string(),
                in_parens: cur_in,
            });
        }
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if !cur.is_empty() {
        out.push(Tok {
            text: cur.trim_end_matches('.').to_string(),
            in_parens: cur_in,
        });
    }
    out
}

fn is_number(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') && t.parse::<f64>().is_ok()
}

/// `24gb`, `512g`, `1tb` → GB.
fn memory_token(t: &str) -> Option<f64> {
    for (suf, mult) in [
        ("gib", 1.0),
        ("gb", 1.0),
        ("g", 1.0),
        ("tib", 1024.0),
        ("tb", 1024.0),
    ] {
        if let Some(n) = t.strip_suffix(suf) {
            if is_number(n) {
                return n.parse::<f64>().ok().map(|v| v * mult);
            }
        }
    }
    None
}

/// Attributes pulled out of a name, and the words left for matching.
#[derive(Debug, Default)]
struct Parsed {
    words: Vec<Tok>,
    memory_gb: Option<f64>,
    memory_in_parens: bool,
    gpu_cores: Option<u32>,
    cpu_cores: Option<u32>,
}

fn parse_words(s: &str) -> Parsed {
    let toks = tokenize(s);
    let mut p = Parsed::default();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i].text;
        let next = toks.get(i + 1).map(|t| t.text.as_str());
        // Memory: `24gb`, or `24 gb`. Outside parentheses wins over inside.
        let mem = memory_token(t).map(|v| (v, 1)).or_else(|| match next {
            Some("gb" | "gib") if is_number(t) => t.parse().ok().map(|v| (v, 2)),
            _ => None,
        });
        if let Some((v, used)) = mem {
            if p.memory_gb.is_none() || (p.memory_in_parens && !toks[i].in_parens) {
                p.memory_gb = Some(v);
                p.memory_in_parens = toks[i].in_parens;
            }
            i += used;
            continue;
        }
        // Cores: `80 core gpu`, `14 core cpu`, or an unlabelled `10 core`.
        if is_number(t) && next == Some("core") {
            let n = t.parse::<f64>().ok().map(|v| v as u32);
            match toks.get(i + 2).map(|t| t.text.as_str()) {
                Some("gpu") => {
                    p.gpu_cores = n;
                    i += 3;
                }
                Some("cpu") => {
                    p.cpu_cores = n;
                    i += 3;
                }
                _ => i += 2,
            }
            continue;
        }
        if !NOISE.contains(&t.as_str()) {
            p.words.push(toks[i].clone());
        }
        i += 1;
    }
    p
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The keys a device answers to in free text.
fn device_keys(d: &Device) -> Vec<String> {
    let p = parse_words(&d.name);
    let words: Vec<&str> = p
        .words
        .iter()
        .filter(|t| !t.in_parens)
        .map(|t| t.text.as_str())
        .collect();
    let mut keys = vec![words.concat()];
    if words.len() > 1 && FAMILY.contains(&words[0]) {
        keys.push(words[1..].concat());
    }
    for a in &d.aliases {
        keys.push(
            parse_words(a)
                .words
                .iter()
                .map(|t| t.text.as_str())
                .collect(),
        );
    }
    keys.retain(|k| !k.is_empty());
    keys.sort();
    keys.dedup();
    keys
}

/// The catalog's names as [`resolve`] matches them, built once per catalog
/// (every resolve would otherwise re-tokenize every device's name and
/// aliases: most of a web estimate's time before this was kept).
#[derive(Debug, Clone, Default)]
pub(crate) struct NameIndex {
    /// Each free-text key ([`device_keys`]) to the devices that answer to it.
    keys: HashMap<String, Vec<usize>>,
    /// Each id, name and alias, squashed, to its device.
    exact: HashMap<String, usize>,
}

impl NameIndex {
    fn build(catalog: &Catalog) -> NameIndex {
        let mut keys: HashMap<String, Vec<usize>> = HashMap::new();
        let mut exact = HashMap::new();
        for (i, d) in catalog.devices().iter().enumerate() {
            for k in device_keys(d) {
                keys.entry(k).or_default().push(i);
            }
            for name in std::iter::once(&d.id)
                .chain(std::iter::once(&d.name))
                .chain(d.aliases.iter())
            {
                exact.entry(squash(name)).or_insert(i);
            }
        }
        NameIndex { keys, exact }
    }
}

struct Index<'a> {
    catalog: &'a Catalog,
    keys: &'a HashMap<String, Vec<usize>>,
    exact: &'a HashMap<String, usize>,
}

impl<'a> Index<'a> {
    fn new(catalog: &'a Catalog) -> Self {
        let names = catalog.names.get_or_init(|| NameIndex::build(catalog));
        Index {
            catalog,
            keys: &names.keys,
            exact: &names.exact,
        }
    }
}

/// Split `2x4090`, `rtx3090*4`, `h100-sxm x8` into count and name.
fn split_count(input: &str) -> Result<(u32, String), ResolveError> {
    let t = input.trim();
    let bad = |reason: &str| ResolveError::BadCount {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let parse = |n: &str| -> Result<u32, ResolveError> {
        match n.parse::<u32>() {
            Ok(v) if (1..=MAX_COUNT).contains(&v) => Ok(v),
            _ => Err(bad(&format!("device count must be 1 to {MAX_COUNT}"))),
        }
    };
    let is_x = |c: char| matches!(c, 'x' | 'X' | '×' | '*');
    // Leading `N x name`.
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        let rest = t[digits.len()..].trim_start();
        if rest.starts_with('-')
            && rest[1..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit())
        {
            let after: String = rest[1..]
                .trim_start()
                .chars()
                .skip_while(|c| c.is_ascii_digit())
                .collect();
            if after.trim_start().starts_with(is_x) {
                return Err(bad(
                    "a range of counts (like 1-4x) is not one hardware set; name each",
                ));
            }
        }
        if let Some(c) = rest.chars().next() {
            if is_x(c) {
                let name = rest[c.len_utf8()..].trim();
                if !name.is_empty() {
                    return Ok((parse(&digits)?, name.to_string()));
                }
            }
        }
    }
    // Trailing `name x N` / `name*N`.
    let tail: String = t
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if !tail.is_empty() {
        let head = t[..t.len() - tail.len()].trim_end();
        if let Some(c) = head.chars().last() {
            let before = head[..head.len() - c.len_utf8()].chars().last();
            let sep_ok = c == '*'
                || c == '×'
                || before.is_some_and(|b| b.is_whitespace() || b == '-' || b == '_');
            if is_x(c) && sep_ok {
                let name = head[..head.len() - c.len_utf8()].trim_end_matches(['-', '_', ' ']);
                if !name.trim().is_empty() {
                    return Ok((parse(&tail)?, name.trim().to_string()));
                }
            }
        }
    }
    Ok((1, t.to_string()))
}

/// Split a mixed set on `+` that stands alone (`4090 + 3090`) or joins two
/// names without spaces (`4090+3090`), but not `Max+ 395`.
fn split_plus(input: &str) -> Vec<String> {
    let chars: Vec<char> = input.chars().collect();
    let mut parts = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '+' {
            let before = i > 0 && chars[i - 1].is_whitespace();
            let after = chars.get(i + 1).is_some_and(|c| c.is_whitespace());
            if before == after {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn gb_matches(dev: Bytes, gb: f64) -> bool {
    let have = dev.as_gib();
    (have - gb).abs() <= (0.1 * gb).max(1.0)
}

fn gib_f(gb: f64) -> Bytes {
    Bytes((gb * GIB as f64).round() as u64)
}

fn fmt_gb(gb: f64) -> String {
    if gb.fract() == 0.0 {
        format!("{gb:.0}")
    } else {
        format!("{gb}")
    }
}

fn resolve_one(index: &Index, input: &str) -> Result<Resolved, ResolveError> {
    let cat = index.catalog;
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ResolveError::Empty);
    }
    // An id, full name or alias, exactly as written in the catalog.
    if let Some(&i) = index.exact.get(&squash(trimmed)) {
        return Ok(Resolved {
            input: input.to_string(),
            device: cat.devices()[i].clone(),
            count: 1,
            assumptions: Vec::new(),
        });
    }
    let (count, name) = split_count(trimmed)?;
    if let Some(&i) = index.exact.get(&squash(&name)) {
        return Ok(Resolved {
            input: input.to_string(),
            device: cat.devices()[i].clone(),
            count,
            assumptions: Vec::new(),
        });
    }
    let parsed = parse_words(&name);
    let words = &parsed.words;

    // Longest key equal to a contiguous run of words.
    let mut best: Option<(usize, usize, &Vec<usize>)> = None;
    let mut best_len = 0;
    for i in 0..words.len() {
        let mut run = String::new();
        for (j, w) in words.iter().enumerate().skip(i).take(8) {
            run.push_str(&w.text);
            if let Some(devs) = index.keys.get(&run) {
                if run.len() > best_len {
                    best_len = run.len();
                    best = Some((i, j + 1, devs));
                }
            }
        }
    }
    let unknown = || ResolveError::Unknown {
        input: input.to_string(),
        suggestions: suggest(index, &name, 5),
    };
    let Some((start, end, devs)) = best else {
        return Err(unknown());
    };
    if let Some(next) = words.get(end) {
        if VARIANT.contains(&next.text.as_str()) {
            return Err(unknown());
        }
    }
    let candidates: Vec<&Device> = devs.iter().map(|&i| &cat.devices()[i]).collect();
    let kind = candidates[0].kind;

    // A bare number after the name is the memory of a Mac or a platform (`m3-ultra-512`).
    let mut memory_gb = parsed.memory_gb;
    let mut mem_in_parens = parsed.memory_in_parens;
    if memory_gb.is_none() && kind != DeviceKind::Gpu {
        if let Some(t) = words[end..]
            .iter()
            .find(|t| !t.in_parens && is_number(&t.text))
        {
            memory_gb = t.text.parse().ok().filter(|v| (4.0..=4096.0).contains(v));
            mem_in_parens = false;
        }
    }
    // "12x DDR5-4800 64GB" inside parentheses is per DIMM, not the machine.
    if kind == DeviceKind::CpuPlatform && mem_in_parens {
        memory_gb = None;
    }
    let _ = start;

    let mut kept: Vec<&Device> = candidates
        .iter()
        .copied()
        .filter(|d| {
            parsed.gpu_cores.is_none() || d.gpu_cores.is_none() || d.gpu_cores == parsed.gpu_cores
        })
        .filter(|d| {
            parsed.cpu_cores.is_none() || d.cpu_cores.is_none() || d.cpu_cores == parsed.cpu_cores
        })
        .collect();
    if kept.is_empty() {
        return Err(unknown());
    }
    if let Some(gb) = memory_gb {
        let fits: Vec<&Device> = kept
            .iter()
            .copied()
            .filter(|d| match (d.memory, d.memory_max) {
                (Some(m), _) => gb_matches(m, gb),
                (None, Some(max)) => gb <= max.as_gib() + 0.5,
                (None, None) => d.kind.memory_is_configurable() || d.kind == DeviceKind::UnifiedSoc,
            })
            .collect();
        if fits.is_empty() {
            let mut known: Vec<String> = kept
                .iter()
                .map(|d| match (d.memory, d.memory_max) {
                    (Some(m), _) => format!("{} ({:.0} GB)", d.id, m.as_gib()),
                    (None, Some(m)) => format!("{} (up to {:.0} GB)", d.id, m.as_gib()),
                    _ => d.id.clone(),
                })
                .collect();
            known.dedup();
            return Err(ResolveError::MemoryMismatch {
                input: input.to_string(),
                family: words[start..end]
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                memory_gb: gb,
                known,
            });
        }
        kept = fits;
    }
    // Rank: with a memory size, a row of exactly that size beats a chip that
    // can be configured to it; without one, the configurable chip row beats a
    // fixed configuration. Then the biggest variant.
    let rank = |d: &Device| {
        let fixed = d.memory.is_some();
        let primary = if memory_gb.is_some() { fixed } else { !fixed };
        (
            primary,
            d.gpu_cores.unwrap_or(0),
            d.usable_memory().unwrap_or(Bytes::ZERO),
            d.bandwidth.map(|b| b.0 as u64).unwrap_or(0),
        )
    };
    kept.sort_by_key(|d| std::cmp::Reverse(rank(d)));
    let chosen = kept[0];
    let mut assumptions = Vec::new();
    if kept.len() > 1 {
        assumptions.push(format!(
            "'{}' matches {} catalog entries; chose {} (name the memory size or GPU cores to pick another)",
            name.trim(),
            kept.len(),
            chosen.id
        ));
    }
    let mut device = chosen.clone();
    if device.memory.is_none() {
        match memory_gb {
            Some(gb) if device.memory_max.is_some() || device.kind.memory_is_configurable() => {
                device.memory = Some(gib_f(gb));
                device.id = format!("{}-{}gb", device.id, fmt_gb(gb));
                device.name = format!("{} {}GB", device.name, fmt_gb(gb));
            }
            _ => {
                if let Some(max) = device.memory_max {
                    device.memory = Some(max);
                    assumptions.push(format!(
                        "memory of {} not given; assumed its largest configuration, {:.0} GB",
                        device.id,
                        max.as_gib()
                    ));
                }
            }
        }
    }
    Ok(Resolved {
        input: input.to_string(),
        device,
        count,
        assumptions,
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The `n` catalog entries nearest to `name`, as `id (name)`.
fn suggest(index: &Index, name: &str, n: usize) -> Vec<String> {
    let q: String = parse_words(name)
        .words
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    if q.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, usize)> = index
        .catalog
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut keys = device_keys(d);
            keys.push(squash(&d.id));
            let score = keys
                .iter()
                .map(|k| {
                    let len = q.chars().count().max(k.chars().count()).max(1) as f64;
                    let mut s = levenshtein(&q, k) as f64 / len;
                    // A key contained in the query or the query in a key is close.
                    if k.contains(q.as_str()) || q.contains(k.as_str()) {
                        s *= 0.5;
                    }
                    s
                })
                .fold(f64::INFINITY, f64::min);
            (score, i)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored
        .into_iter()
        .take(n)
        .map(|(_, i)| {
            let d = &index.catalog.devices()[i];
            format!("{} ({})", d.id, d.name)
        })
        .collect()
}

/// Resolve one name, which may be a mixed set (`2x4090 + 3090`).
pub fn resolve(catalog: &Catalog, input: &str) -> Result<Vec<Resolved>, ResolveError> {
    let index = Index::new(catalog);
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ResolveError::Empty);
    }
    // A catalog name that itself contains `+` ("Ryzen AI Max+ 395") wins over splitting.
    if index.exact.contains_key(&squash(trimmed)) {
        return Ok(vec![resolve_one(&index, trimmed)?]);
    }
    split_plus(trimmed)
        .iter()
        .map(|p| resolve_part(&index, p))
        .collect()
}

/// One part of a set; a CPU model the catalog lacks (or that only matched a
/// generic memory row by its DDR rate) takes the memory platform of its
/// catalogued series siblings.
fn resolve_part(index: &Index, input: &str) -> Result<Resolved, ResolveError> {
    let r = resolve_one(index, input);
    let generic = match &r {
        Ok(x) => {
            x.device.kind == DeviceKind::CpuPlatform
                && x.device.cpu.is_none()
                && x.device.vendor == "CPU platform"
        }
        Err(_) => true,
    };
    if generic {
        if let Some(s) = cpu_series_sibling(index, input) {
            return Ok(s);
        }
    }
    r
}

/// A CPU model number's series: digit count, first and last digit, letter
/// suffix (`7965wx` and `7995wx` are Threadripper PRO 7000WX; `9355` and
/// `9755` EPYC 9005, while `9654` is EPYC 9004).
fn cpu_series(model: &str) -> Option<(usize, char, char, String)> {
    let digits: String = model.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &model[digits.len()..];
    if !(4..=5).contains(&digits.len())
        || !suffix.chars().all(|c| c.is_ascii_alphabetic())
        || suffix.len() > 3
    {
        return None;
    }
    Some((
        digits.len(),
        digits.chars().next()?,
        digits.chars().last()?,
        suffix.to_string(),
    ))
}

/// A CPU name's product line (words before its model number, without the
/// brand words people drop) and its model number.
fn cpu_line_and_model(name: &str) -> Option<(Vec<String>, String)> {
    let words: Vec<String> = parse_words(name)
        .words
        .into_iter()
        .filter(|t| !t.in_parens)
        .map(|t| t.text)
        .collect();
    let k = words.iter().position(|w| cpu_series(w).is_some())?;
    let line: Vec<String> = words[..k]
        .iter()
        .filter(|w| *w != "ryzen")
        .cloned()
        .collect();
    if line.is_empty()
        || !line
            .iter()
            .any(|w| ["epyc", "threadripper", "xeon"].contains(&w.as_str()))
    {
        return None;
    }
    Some((line, words[k].clone()))
}

/// A server/workstation CPU the catalog lacks, resolved to the memory
/// platform (channels, DDR rate, family) that every catalogued CPU of its
/// line and series shares (cpu_platforms.csv rows, each with its sources).
/// Cores come from the name (`24C`); clocks are unknown, so no compute
/// figure is claimed. None when no sibling exists or siblings disagree.
fn cpu_series_sibling(index: &Index, input: &str) -> Option<Resolved> {
    let (count, name) = split_count(input.trim()).ok()?;
    let (line, model) = cpu_line_and_model(&name)?;
    let series = cpu_series(&model)?;
    let siblings: Vec<&Device> = index
        .catalog
        .devices()
        .iter()
        .filter(|d| {
            d.kind == DeviceKind::CpuPlatform && d.vendor != "CPU platform" && d.platform.is_some()
        })
        .filter(|d| {
            cpu_line_and_model(&d.name).is_some_and(|(l, m)| {
                l == line && m != model && cpu_series(&m) == Some(series.clone())
            })
        })
        .collect();
    let first = *siblings.first()?;
    let same = |d: &&Device| d.platform == first.platform && d.architecture == first.architecture;
    if !siblings.iter().all(same) {
        return None;
    }
    let cores = tokenize(&name).iter().find_map(|t| {
        let n = t.text.strip_suffix('c')?;
        n.parse::<u32>().ok().filter(|&c| c > 0 && c <= 512)
    });
    let plain = name.split('(').next().unwrap_or(&name).trim().to_string();
    let ids: Vec<&str> = siblings.iter().map(|d| d.id.as_str()).collect();
    let platform = first.platform?;
    let mut device = first.clone();
    device.id = parse_words(&plain)
        .words
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("-");
    device.name = plain.clone();
    device.cpu = None;
    device.cpu_cores = cores;
    device.tdp = None;
    device.price_usd = None;
    device.price_note = None;
    device.aliases = Vec::new();
    device.notes = Some(format!(
        "not in the catalog: memory platform of its series ({}) from {}",
        first.architecture.as_deref().unwrap_or("same line"),
        ids.join(", ")
    ));
    Some(Resolved {
        input: input.to_string(),
        device,
        count,
        assumptions: vec![format!(
            "'{plain}' is not in the catalog: read as its series' platform ({} channels × {} MT/s, {}) from {}; cores {}; clocks unknown, so no CPU compute figure of its own",
            platform.channels,
            platform.mts,
            first.architecture.as_deref().unwrap_or("same line"),
            ids.join(", "),
            cores.map_or("not stated".to_string(), |c| format!("{c} as stated")),
        )],
    })
}

/// Resolve several names (`--gpu 4090 --gpu 3090`) into one set; the same
/// device named twice is counted twice.
pub fn resolve_set<S: AsRef<str>>(
    catalog: &Catalog,
    inputs: &[S],
) -> Result<HardwareSet, ResolveError> {
    let mut set = HardwareSet::default();
    for input in inputs {
        for r in resolve(catalog, input.as_ref())? {
            set.assumptions.extend(r.assumptions);
            if let Some(entry) = set.devices.iter_mut().find(|(d, _)| d.id == r.device.id) {
                entry.1 = entry.1.saturating_add(r.count);
            } else {
                set.devices.push((r.device, r.count));
            }
        }
    }
    if set.devices.is_empty() {
        return Err(ResolveError::Empty);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> &'static Catalog {
        Catalog::embedded().expect("embedded catalog parses")
    }

    fn one(s: &str) -> Resolved {
        let mut v = resolve(cat(), s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn names_from_the_issue() {
        assert_eq!(one("4090").device.id, "rtx-4090-24gb");
        assert_eq!(one("rtx-4090").device.id, "rtx-4090-24gb");
        let r = one("2x4090");
        assert_eq!((r.device.id.as_str(), r.count), ("rtx-4090-24gb", 2));
        let r = one("rtx3090*4");
        assert_eq!((r.device.id.as_str(), r.count), ("rtx-3090", 4));
        let r = one("m3-ultra-512");
        assert_eq!(r.device.id, "m3-ultra-32c-cpu-80c-gpu-512gb");
        let r = one("mac-studio-m2-ultra-192gb");
        assert!(r.device.id.starts_with("m2-ultra-"), "{}", r.device.id);
        assert_eq!(r.device.memory, Some(Bytes::gib(192)));
        let r = one("h100-sxm x8");
        assert_eq!((r.device.id.as_str(), r.count), ("h100-sxm5-80gb", 8));
        assert_eq!(
            one("epyc-9654-12ch-ddr5").device.id,
            "epyc-9004-12ch-ddr5-4800"
        );
        assert_eq!(
            one("NVIDIA GeForce RTX 4090 24GB").device.id,
            "rtx-4090-24gb"
        );
        let r = one("Apple M1 Max (32-core GPU) 64GB");
        assert_eq!(r.device.id, "m1-max-32c-gpu-64gb");
        assert_eq!(r.device.memory, Some(Bytes::gib(64)));
        assert_eq!(r.device.gpu_cores, Some(32));
    }

    #[test]
    fn variants_do_not_bleed() {
        assert_eq!(one("a100").device.id, "a100-sxm4-80gb");
        assert_eq!(one("A10").device.id, "a10-24gb");
        assert_eq!(one("rtx 4070 ti super").device.id, "rtx-4070-ti-super-16gb");
        assert_eq!(one("4070 ti").device.id, "rtx-4070-ti-12gb");
        assert_eq!(one("4090D").device.id, "rtx-4090-d-24gb");
        assert_eq!(one("L40").device.id, "l40-48gb");
        assert_eq!(one("L40S").device.id, "l40s-48gb");
        assert_eq!(one("mi50 32gb").device.id, "mi50-32gb");
        assert!(resolve(cat(), "4090 ti").is_err());
    }

    #[test]
    fn mixed_sets() {
        let set = resolve_set(cat(), &["4090", "3090", "2x4090"]).unwrap();
        assert_eq!(set.devices.len(), 2);
        assert_eq!(set.count(), 4);
        // The SKU is a catalog CPU (data/cpu_platforms.csv), not only its platform.
        let v = resolve(cat(), "2x Intel Xeon Gold 6454S + RTX 4090 24GB").unwrap();
        assert_eq!(v[0].device.id, "xeon-gold-6454s");
        assert_eq!(v[0].count, 2);
        assert_eq!(v[1].device.id, "rtx-4090-24gb");
        // `Max+ 395` is a name, not a set.
        assert_eq!(one("Ryzen AI Max+ 395").device.id, "ryzen-ai-max-plus-395");
    }

    #[test]
    fn memory_configurations() {
        assert!(matches!(
            resolve(cat(), "m2-max 512gb"),
            Err(ResolveError::MemoryMismatch { .. })
        ));
        let r = one("m3 ultra");
        assert_eq!(r.device.memory, Some(Bytes::gib(512)));
        assert!(!r.assumptions.is_empty());
        let r = one("epyc-9654 768gb");
        assert_eq!(r.device.memory, Some(Bytes::gib(768)));
    }

    #[test]
    fn uncatalogued_cpus_take_their_series_platform() {
        // 7965WX and 7975WX are not in cpu_platforms.csv; 7995WX and 7985WX
        // (Threadripper PRO 7000WX, 8 channels, DDR5-5200) are.
        let set = resolve(
            cat(),
            "AMD Threadripper PRO 7965WX (24C, 8x DDR5 @4800, 256GB) + NVIDIA RTX A6000 48GB",
        )
        .unwrap();
        assert_eq!(set.len(), 2);
        let cpu = &set[0].device;
        assert_eq!(cpu.name, "AMD Threadripper PRO 7965WX");
        assert_eq!(cpu.kind, DeviceKind::CpuPlatform);
        assert_eq!(cpu.platform.map(|p| (p.channels, p.mts)), Some((8, 5200)));
        assert_eq!(cpu.cpu_cores, Some(24));
        assert!(
            cpu.cpu.is_none(),
            "no clock is sourced, so no compute figure"
        );
        assert!(set[0].assumptions[0].contains("ryzen-threadripper-pro-7995wx"));
        // A DDR rate alone no longer makes it a desktop dual-channel platform.
        let r = one("AMD Threadripper PRO 7975WX (32C, 768GB DDR5-5600)");
        assert_eq!(r.device.platform.map(|p| p.channels), Some(8));
        assert_eq!(r.device.cpu_cores, Some(32));
        // Other series (9xx4 vs 9xx5, 7xx5WX vs 9xx5WX) are not siblings.
        assert!(resolve(cat(), "AMD Threadripper PRO 3965ZZ").is_err());
        assert_ne!(
            one("AMD EPYC 9355").device.id,
            one("AMD EPYC 9654").device.id
        );
    }

    #[test]
    fn unknown_names_suggest_neighbours() {
        match resolve(cat(), "rtx 4095") {
            Err(ResolveError::Unknown { suggestions, .. }) => {
                assert!(!suggestions.is_empty());
                assert!(
                    suggestions.iter().any(|s| s.contains("4090")),
                    "{suggestions:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(resolve(cat(), "  "), Err(ResolveError::Empty)));
        assert!(matches!(
            resolve(cat(), "0x4090"),
            Err(ResolveError::BadCount { .. })
        ));
        assert!(matches!(
            resolve(cat(), "1-4x RTX 4090D"),
            Err(ResolveError::BadCount { .. })
        ));
    }

    #[test]
    fn names_added_after_a_resolve_are_found() {
        // The name index is built on the first resolve; adding the CPU
        // platforms afterwards must not leave it stale.
        let gpus = Catalog::from_csv(super::super::HARDWARE_CSV).unwrap();
        assert_eq!(
            resolve(&gpus, "4090").unwrap()[0].device.id,
            "rtx-4090-24gb"
        );
        assert!(!resolve(&gpus, "epyc-9124").is_ok_and(|r| r[0].device.id == "epyc-9124"));
        let all = gpus
            .with_cpu_platforms(
                super::super::CPU_PLATFORMS_CSV,
                super::super::catalog::CPU_SIMD_CSV,
            )
            .unwrap();
        assert_eq!(
            resolve(&all, "epyc-9124").unwrap()[0].device.id,
            "epyc-9124"
        );
        assert_eq!(resolve(&all, "4090").unwrap()[0].device.id, "rtx-4090-24gb");
    }

    #[test]
    fn every_catalog_name_and_id_resolves_to_itself() {
        for d in cat().devices() {
            for n in [&d.id, &d.name] {
                let r = one(n);
                assert_eq!(r.device.id, d.id, "{n}");
                assert_eq!(r.count, 1, "{n}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = resolve(cat(), &s);
        }
    }
}
