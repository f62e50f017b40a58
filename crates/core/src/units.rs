//! Physical units as types, so a number never travels without its unit.
//!
//! Memory is counted in whole bytes (`Bytes`); rates are `f64`s wrapped in
//! their own types. Display picks binary units (GiB) because that is what
//! llama.cpp and the drivers print; `Bytes::gb` gives decimal GB for the
//! published file sizes that use them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

/// An amount of memory in bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

/// One kibibyte.
pub const KIB: u64 = 1 << 10;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// One gibibyte.
pub const GIB: u64 = 1 << 30;

impl Bytes {
    /// Zero bytes.
    pub const ZERO: Bytes = Bytes(0);

    /// From mebibytes (exact for whole MiB).
    pub const fn mib(n: u64) -> Bytes {
        Bytes(n * MIB)
    }

    /// From gibibytes (exact for whole GiB).
    pub const fn gib(n: u64) -> Bytes {
        Bytes(n * GIB)
    }

    /// Value in mebibytes.
    pub fn as_mib(self) -> f64 {
        self.0 as f64 / MIB as f64
    }

    /// Value in gibibytes.
    pub fn as_gib(self) -> f64 {
        self.0 as f64 / GIB as f64
    }

    /// Value in decimal gigabytes (10^9 bytes), the unit of Hugging Face and Ollama listings.
    pub fn as_gb(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Saturating subtraction: memory left can never be negative.
    pub fn saturating_sub(self, other: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(other.0))
    }

    /// Round up to a multiple of `align` bytes (`align` > 0).
    pub fn align_up(self, align: u64) -> Bytes {
        Bytes(self.0.div_ceil(align) * align)
    }

    /// Parse a human memory size such as `24GiB`, `24 GB`, `512M`, `1.5T` or `1073741824`.
    ///
    /// Binary suffixes (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024; decimal
    /// ones (`KB`, `MB`, `GB`, `TB`) are powers of 1000. A bare letter
    /// (`G`, `M`) follows the drivers' and llama.cpp's habit and means binary.
    pub fn parse(s: &str) -> Result<Bytes, UnitError> {
        let t = s.trim();
        let bad = || UnitError::BadSize(s.to_string());
        if t.is_empty() {
            return Err(bad());
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: f64 = num.replace('_', "").parse().map_err(|_| bad())?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kib" => KIB as f64,
            "m" | "mib" => MIB as f64,
            "g" | "gib" => GIB as f64,
            "t" | "tib" => (GIB as f64) * 1024.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            _ => return Err(bad()),
        };
        let v = num * mult;
        // Above 1 EiB no real machine exists; treat it as a typo, not a size.
        if !v.is_finite() || v < 0.0 || v > (1u64 << 60) as f64 {
            return Err(UnitError::Absurd(s.to_string()));
        }
        Ok(Bytes(v.round() as u64))
    }
}

/// Errors from parsing unit strings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// The string is not a size.
    #[error("'{0}' is not a memory size; write e.g. 24GiB, 24GB, 512MiB or 1.5TiB")]
    BadSize(String),
    /// The size is outside any plausible machine.
    #[error("'{0}' is not a plausible memory size (must be between 0 and 1 EiB)")]
    Absurd(String),
    /// Not a bandwidth in GB/s.
    #[error("'{0}' is not a bandwidth; give GB/s between 0 and 100000, e.g. 460")]
    BadBandwidth(String),
}

impl fmt::Display for Bytes {
    /// Binary units with two decimals, e.g. `4.36 GiB`; `{:#}` prints the raw byte count too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let s = if self.0 >= GIB {
            format!("{:.2} GiB", b / GIB as f64)
        } else if self.0 >= MIB {
            format!("{:.2} MiB", b / MIB as f64)
        } else if self.0 >= KIB {
            format!("{:.2} KiB", b / KIB as f64)
        } else {
            format!("{} B", self.0)
        };
        if f.alternate() {
            write!(f, "{s} ({} B)", self.0)
        } else {
            f.pad(&s)
        }
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, o: Bytes) -> Bytes {
        Bytes(self.0.saturating_add(o.0))
    }
}
impl AddAssign for Bytes {
    fn add_assign(&mut self, o: Bytes) {
        self.0 = self.0.saturating_add(o.0);
    }
}
impl Sub for Bytes {
    type Output = Bytes;
    fn sub(self, o: Bytes) -> Bytes {
        self.saturating_sub(o)
    }
}
impl Mul<u64> for Bytes {
    type Output = Bytes;
    fn mul(self, k: u64) -> Bytes {
        Bytes(self.0.saturating_mul(k))
    }
}
impl Sum for Bytes {
    fn sum<I: Iterator<Item = Bytes>>(iter: I) -> Bytes {
        iter.fold(Bytes::ZERO, |a, b| a + b)
    }
}

/// A memory or link bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BytesPerSecond(pub f64);

impl BytesPerSecond {
    /// From decimal GB/s, the unit of spec sheets.
    pub fn gbps(gb_s: f64) -> Self {
        BytesPerSecond(gb_s * 1e9)
    }
    /// Value in decimal GB/s.
    pub fn as_gbps(self) -> f64 {
        self.0 / 1e9
    }

    /// Decimal GB/s as written, `460` or `460GB/s`, above 0 and below 100000.
    pub fn parse_gbps(s: &str) -> Result<Self, UnitError> {
        let t = s.trim().trim_end_matches("GB/s").trim_end_matches("gb/s");
        match t.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v < 100_000.0 => Ok(BytesPerSecond::gbps(v)),
            _ => Err(UnitError::BadBandwidth(s.to_string())),
        }
    }
}

impl fmt::Display for BytesPerSecond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{:.1} GB/s", self.as_gbps()))
    }
}

/// A compute rate in floating-point operations per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlopsPerSecond(pub f64);

impl FlopsPerSecond {
    /// From TFLOP/s, the unit of spec sheets.
    pub fn tflops(t: f64) -> Self {
        FlopsPerSecond(t * 1e12)
    }
    /// Value in TFLOP/s.
    pub fn as_tflops(self) -> f64 {
        self.0 / 1e12
    }
}

impl fmt::Display for FlopsPerSecond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{:.1} TFLOP/s", self.as_tflops()))
    }
}

/// Electrical power.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Watts(pub f64);

impl fmt::Display for Watts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{:.0} W", self.0))
    }
}

/// A duration in seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl Seconds {
    /// Value in milliseconds.
    pub fn as_ms(self) -> f64 {
        self.0 * 1e3
    }
}

impl Add for Seconds {
    type Output = Seconds;
    fn add(self, o: Seconds) -> Seconds {
        Seconds(self.0 + o.0)
    }
}

impl Sum for Seconds {
    fn sum<I: Iterator<Item = Seconds>>(iter: I) -> Seconds {
        Seconds(iter.map(|s| s.0).sum())
    }
}

impl fmt::Display for Seconds {
    /// `12.3 ms` below a second, `4.56 s` below ten minutes, else `1h 02m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let text = if !s.is_finite() {
            "∞".to_string()
        } else if s < 1.0 {
            format!("{:.1} ms", s * 1e3)
        } else if s < 600.0 {
            format!("{s:.2} s")
        } else if s < 3599.5 {
            // Round to whole seconds before splitting: 959.6 s is 16m 00s,
            // not 15m 60s.
            let t = s.round() as u64;
            format!("{}m {:02}s", t / 60, t % 60)
        } else {
            let t = (s / 60.0).round() as u64;
            format!("{}h {:02}m", t / 60, t % 60)
        };
        f.pad(&text)
    }
}

/// A token throughput.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokensPerSecond(pub f64);

impl fmt::Display for TokensPerSecond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let text = if v >= 100.0 {
            format!("{v:.0} tok/s")
        } else if v >= 10.0 {
            format!("{v:.1} tok/s")
        } else {
            format!("{v:.2} tok/s")
        };
        f.pad(&text)
    }
}

/// An amount of energy in joules (watt-seconds).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Joules(pub f64);

/// Joules in one kilowatt-hour (1000 W × 3600 s).
pub const JOULES_PER_KWH: f64 = 3.6e6;

impl Joules {
    /// Value in kilowatt-hours, the unit electricity is billed in.
    pub fn as_kwh(self) -> f64 {
        self.0 / JOULES_PER_KWH
    }
}

impl fmt::Display for Joules {
    /// `4.38 J` below 1 kJ, else `12.3 kJ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if self.0.abs() < 1e3 {
            format!("{:.2} J", self.0)
        } else {
            format!("{:.1} kJ", self.0 / 1e3)
        };
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_durations_never_print_sixty_seconds_or_minutes() {
        assert_eq!(Seconds(959.6).to_string(), "16m 00s");
        assert_eq!(Seconds(1075.2).to_string(), "17m 55s");
        assert_eq!(Seconds(3599.7).to_string(), "1h 00m");
        assert_eq!(Seconds(7170.0).to_string(), "2h 00m");
        assert_eq!(Seconds(3720.0).to_string(), "1h 02m");
    }

    #[test]
    fn parses_binary_and_decimal_sizes() {
        assert_eq!(Bytes::parse("24GiB").unwrap(), Bytes::gib(24));
        assert_eq!(Bytes::parse("24 GB").unwrap(), Bytes(24_000_000_000));
        assert_eq!(Bytes::parse("512M").unwrap(), Bytes::mib(512));
        assert_eq!(Bytes::parse("1.5TiB").unwrap(), Bytes(1_649_267_441_664));
        assert_eq!(Bytes::parse("1073741824").unwrap(), Bytes::gib(1));
    }

    #[test]
    fn rejects_malformed_and_absurd_sizes() {
        for s in ["", "abc", "24XB", "-5GB", "GB", "1e400GB"] {
            assert!(Bytes::parse(s).is_err(), "{s} should be rejected");
        }
        assert!(matches!(
            Bytes::parse("99999999TB"),
            Err(UnitError::Absurd(_))
        ));
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(Bytes::mib(2196).to_string(), "2.14 GiB");
        assert_eq!(Bytes::mib(112).to_string(), "112.00 MiB");
        assert_eq!(format!("{:#}", Bytes(1000)), "1000 B (1000 B)");
    }

    #[test]
    fn bandwidth_in_gbps() {
        assert_eq!(BytesPerSecond::parse_gbps("460").unwrap().as_gbps(), 460.0);
        assert_eq!(
            BytesPerSecond::parse_gbps(" 460 GB/s").unwrap().as_gbps(),
            460.0
        );
        assert!(BytesPerSecond::parse_gbps("0").is_err());
        assert!(BytesPerSecond::parse_gbps("fast").is_err());
    }
}
