//! Config value types with units: sizes ("8MiB"), durations ("10s") and the
//! core count ("auto" or a number). Each parses with a message that says
//! what was expected.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A size in bytes, written as `"16KiB"`, `"8MiB"`, `"1GB"` or a plain integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// A duration, written as `"500ms"`, `"10s"`, `"5m"` or `"1h"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// `server.cores`: `"auto"` (one shard per available CPU) or a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cores {
    /// One shard per CPU this process may run on.
    #[default]
    Auto,
    /// Exactly this many shards.
    Count(usize),
}

impl ByteSize {
    /// Parses `"8MiB"`-style text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size `{s}`: expected a number with a unit, like \"16KiB\" or \"8MiB\""))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => return Err(format!("invalid size unit `{other}` in `{s}`: use B, KiB, MiB, GiB, KB, MB or GB")),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("size `{s}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0B"),
            _ if n.is_multiple_of(1 << 30) => write!(f, "{}GiB", n >> 30),
            _ if n.is_multiple_of(1 << 20) => write!(f, "{}MiB", n >> 20),
            _ if n.is_multiple_of(1 << 10) => write!(f, "{}KiB", n >> 10),
            _ => write!(f, "{n}B"),
        }
    }
}

impl Dur {
    /// Parses `"10s"`-style text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "0" {
            return Ok(Dur(Duration::ZERO));
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let expected = || {
            format!("invalid duration `{s}`: expected a number with a unit, like \"500ms\", \"10s\", \"5m\" or \"1h\"")
        };
        let n: u64 = num.parse().map_err(|_| expected())?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(expected()),
        };
        Ok(Dur(d))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl Cores {
    /// The shard count this resolves to on this machine.
    pub fn resolve(self) -> usize {
        match self {
            Cores::Count(n) => n,
            Cores::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Parses `"auto"` or a positive number.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Cores::Auto),
            t => match t.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => Ok(Cores::Count(n)),
                _ => Err(format!("invalid core count `{s}`: expected \"auto\" or a number from 1 to 1024")),
            },
        }
    }
}

/// Implements Deserialize (from a string, or an integer where `int` says
/// how) and Serialize (as its Display text) for a unit type.
macro_rules! text_value {
    ($ty:ty, $expecting:literal, $int:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        <$ty>::parse(s).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$ty, E> {
                        let f: fn(i64) -> Result<$ty, String> = $int;
                        f(n).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

text_value!(ByteSize, "a size such as \"8MiB\"", |n| u64::try_from(n)
    .map(ByteSize)
    .map_err(|_| format!("invalid size {n}: must not be negative")));
text_value!(Dur, "a duration such as \"10s\"", |n| if n == 0 {
    Ok(Dur(Duration::ZERO))
} else {
    Err(format!("invalid duration {n}: write it with a unit, like \"{n}s\""))
});
text_value!(Cores, "\"auto\" or a number of cores", |n| Cores::parse(&n.to_string()));

impl fmt::Display for Cores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cores::Auto => f.write_str("auto"),
            Cores::Count(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("16KiB").unwrap().0, 16384);
        assert_eq!(ByteSize::parse("8MiB").unwrap().0, 8 << 20);
        assert_eq!(ByteSize::parse("1MB").unwrap().0, 1_000_000);
        assert_eq!(ByteSize::parse("123").unwrap().0, 123);
        assert!(ByteSize::parse("8 parsecs").unwrap_err().contains("unit"));
        assert!(ByteSize::parse("lots").is_err());
        assert_eq!(ByteSize(8 << 20).to_string(), "8MiB");
    }

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("10s").unwrap().0, Duration::from_secs(10));
        assert_eq!(Dur::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(Dur::parse("2m").unwrap().0, Duration::from_secs(120));
        assert!(Dur::parse("10").unwrap_err().contains("unit"));
        assert!(Dur::parse("ten s").is_err());
        assert_eq!(Dur(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(Dur(Duration::from_millis(1500)).to_string(), "1500ms");
    }

    #[test]
    fn cores() {
        assert_eq!(Cores::parse("auto").unwrap(), Cores::Auto);
        assert_eq!(Cores::parse("4").unwrap(), Cores::Count(4));
        assert!(Cores::parse("0").is_err());
        assert!(Cores::parse("many").is_err());
    }
}
