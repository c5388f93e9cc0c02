//! Debian version numbers, ordered exactly as `dpkg --compare-versions` orders them.
//!
//! [`DebVersion`] wraps the `debversion` crate so the rest of the code does not depend on its
//! API. The original text is kept for display (`1.0-` and `1.0` compare equal but print as
//! written). The ordering is checked against the real `dpkg` on a large generated corpus in
//! this module's tests.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Debian version: `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone)]
pub struct DebVersion {
    text: Box<str>,
    inner: debversion::Version,
}

/// A version string that is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Debian version `{text}`: {reason}")]
pub struct VersionError {
    pub text: String,
    pub reason: String,
}

impl DebVersion {
    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for DebVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let err = |reason: String| VersionError {
            text: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty".to_string()));
        }
        let inner = debversion::Version::from_str(s)
            .or_else(|_| debversion::Version::parse_lenient(s))
            .map_err(|e| err(e.to_string()))?;
        Ok(DebVersion {
            text: s.into(),
            inner,
        })
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.text == other.text {
            return Ordering::Equal;
        }
        self.inner.cmp(&other.inner)
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equality is dpkg's: `1.0` equals `1.0-0` and `0:1.0`.
impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebVersion {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn v(s: &str) -> DebVersion {
        s.parse().unwrap()
    }

    #[test]
    fn basic_order() {
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1.0") < v("1.0+b1"));
        assert!(v("1:0.1") > v("9.9"));
        assert!(v("1.0a") < v("1.0+"));
        assert!(v("1.0~~") < v("1.0~"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("0:1.0"), v("1.0"));
        assert_eq!(v("1.01"), v("1.1"));
        assert_eq!(v("2:1.2-3").to_string(), "2:1.2-3");
        assert!("".parse::<DebVersion>().is_err());
    }

    /// Deterministic xorshift generator, no dependency needed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const UP_CHARS: &[&str] = &[
        "0", "1", "2", "9", "10", "00", "a", "b", "z", "A", "Z", ".", "+", "~", "~~", "dfsg", "rc",
    ];
    const REV_CHARS: &[&str] = &[
        "0", "1", "2", "10", "01", "a", "b", ".", "+", "~", "deb12u", "ubuntu", "b1",
    ];

    fn gen_part(rng: &mut Rng, chars: &[&str], first_digit: bool) -> String {
        let mut s = String::new();
        if first_digit {
            s.push_str(rng.pick(&["0", "1", "2", "3", "10", "007"]));
        }
        for _ in 0..rng.below(6) {
            s.push_str(rng.pick(chars));
        }
        if s.is_empty() {
            s.push('0');
        }
        s
    }

    fn gen_version(rng: &mut Rng) -> String {
        let mut s = String::new();
        if rng.below(4) == 0 {
            s.push_str(rng.pick(&["0:", "1:", "2:", "10:", "01:"]));
        }
        s.push_str(&gen_part(rng, UP_CHARS, true));
        match rng.below(4) {
            0 => {}
            1 => {
                // a hyphen inside upstream, allowed since a revision follows
                s.push('-');
                s.push_str(&gen_part(rng, UP_CHARS, true));
                s.push('-');
                s.push_str(&gen_part(rng, REV_CHARS, false));
            }
            _ => {
                s.push('-');
                s.push_str(&gen_part(rng, REV_CHARS, false));
            }
        }
        s
    }

    /// A small change of `base`, so most pairs differ late in the string.
    fn mutate(rng: &mut Rng, base: &str) -> String {
        match rng.below(8) {
            0 => format!("{base}~"),
            1 => format!("{base}+b1"),
            2 => format!("{base}a"),
            3 => format!("{base}.0"),
            4 => format!("1:{}", base.split_once(':').map_or(base, |(_, r)| r)),
            5 => {
                if base.contains('-') {
                    base.to_string()
                } else {
                    format!("{base}-0")
                }
            }
            6 => base.replacen('1', "01", 1),
            _ => base.replacen('.', "~", 1),
        }
    }

    fn corpus() -> Vec<(String, String)> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut pairs = Vec::new();
        while pairs.len() < 5000 {
            let a = gen_version(&mut rng);
            let b = if rng.below(2) == 0 {
                mutate(&mut rng, &a)
            } else {
                gen_version(&mut rng)
            };
            if a.parse::<DebVersion>().is_ok() && b.parse::<DebVersion>().is_ok() {
                pairs.push((a, b));
            }
        }
        pairs
    }

    /// The operator used for pair `i`: cycling through them checks `gt` and equality too,
    /// with one dpkg call per pair.
    const OPS: [&str; 3] = ["lt", "gt", "eq"];

    fn ours(op: &str, a: &DebVersion, b: &DebVersion) -> bool {
        match op {
            "lt" => a < b,
            "gt" => a > b,
            _ => a == b,
        }
    }

    /// Runs `dpkg --compare-versions A OP B` for each pair through one `sh` per half, in
    /// parallel; returns whether each holds.
    fn dpkg_says(pairs: &[(String, String)]) -> Vec<bool> {
        let half = pairs.len().div_ceil(2);
        let children: Vec<_> = pairs
            .chunks(half)
            .enumerate()
            .map(|(c, chunk)| {
                let mut script = String::new();
                for (i, (a, b)) in chunk.iter().enumerate() {
                    let op = OPS[(c * half + i) % OPS.len()];
                    script.push_str(&format!(
                        "dpkg --compare-versions '{a}' {op} '{b}' 2>/dev/null; echo $?\n"
                    ));
                }
                let mut child = Command::new("sh")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(script.as_bytes())
                    .unwrap();
                child
            })
            .collect();
        let mut out = Vec::new();
        for child in children {
            let output = child.wait_with_output().unwrap();
            for line in String::from_utf8(output.stdout).unwrap().lines() {
                match line {
                    "0" => out.push(true),
                    "1" => out.push(false),
                    other => panic!("dpkg failed with status {other}"),
                }
            }
        }
        assert_eq!(out.len(), pairs.len());
        out
    }

    #[test]
    fn matches_dpkg_on_generated_corpus() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("dpkg not found; skipping");
            return;
        }
        let pairs = corpus();
        let expected = dpkg_says(&pairs);
        let mut mismatches = Vec::new();
        for (i, ((a, b), want)) in pairs.iter().zip(expected).enumerate() {
            let op = OPS[i % OPS.len()];
            let got = ours(op, &v(a), &v(b));
            if got != want {
                mismatches.push(format!("{a} {op} {b}: dpkg says {want}, we say {got}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}
