//! RPM versions (`[epoch:]version[-release]`), ordered exactly as rpm's `rpmvercmp` orders them.
//!
//! [`rpmvercmp`] is a port of rpm's C function of the same name: versions split into
//! alphanumeric segments (runs of ASCII digits or ASCII letters; everything else separates),
//! numeric segments compare as numbers (leading zeros ignored) and beat alphabetic ones, `~`
//! sorts before everything including the end of the string, and `^` sorts after the end but
//! before anything else. [`Evr`] compares the epoch first, then the version, then the release.
//! The ordering is checked against the real `rpm` on a large generated corpus in this module's
//! tests.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Compares two version (or release) strings as rpm's `rpmvercmp` does.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0, 0);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        // `~` sorts before everything else, the end of the string included.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end of the string but before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (start_a, start_b) = (i, j);
        while i < a.len() && class(a[i]) {
            i += 1;
        }
        while j < b.len() && class(b[j]) {
            j += 1;
        }
        let mut seg_a = &a[start_a..i];
        let mut seg_b = &b[start_b..j];
        // Segments of different types: numeric beats alphabetic.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while seg_a.first() == Some(&b'0') {
                seg_a = &seg_a[1..];
            }
            while seg_b.first() == Some(&b'0') {
                seg_b = &seg_b[1..];
            }
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// An rpm epoch-version-release. A missing epoch is 0; a missing release is empty.
///
/// Ordering (and so equality) is rpm's: epoch, then [`rpmvercmp`] of the versions, then of the
/// releases, so `1.0` equals `1.00` and `1..0`. For dependency ranges, where a release left out
/// on either side matches any release, use [`Evr::cmp_dep`].
#[derive(Debug, Clone, Default)]
pub struct Evr {
    pub epoch: u32,
    pub version: String,
    pub release: String,
}

/// An EVR string that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rpm EVR `{text}`: {reason}")]
pub struct EvrError {
    pub text: String,
    pub reason: &'static str,
}

impl Evr {
    pub fn new(epoch: u32, version: impl Into<String>, release: impl Into<String>) -> Evr {
        Evr {
            epoch,
            version: version.into(),
            release: release.into(),
        }
    }

    /// Compares as rpm compares a dependency's EVR with a provider's: like [`Ord`], except that
    /// the releases are only compared when both sides have one (`foo >= 1.0` is met by
    /// `1.0-5`).
    pub fn cmp_dep(&self, other: &Evr) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| {
                if self.release.is_empty() || other.release.is_empty() {
                    Ordering::Equal
                } else {
                    rpmvercmp(&self.release, &other.release)
                }
            })
    }
}

impl FromStr for Evr {
    type Err = EvrError;

    /// Parses `[E:]V[-R]`: the epoch is what precedes the first `:`, the release what follows
    /// the last `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let err = |reason| EvrError {
            text: s.to_string(),
            reason,
        };
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch is not a number"));
                }
                (e.parse::<u32>().map_err(|_| err("epoch too large"))?, rest)
            }
            None => (0, s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => {
                if r.is_empty() {
                    return Err(err("empty release"));
                }
                (v, r)
            }
            None => (rest, ""),
        };
        if version.is_empty() {
            return Err(err("empty version"));
        }
        if version.contains(':') || release.contains(':') {
            return Err(err("more than one `:`"));
        }
        Ok(Evr::new(epoch, version, release))
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if !self.release.is_empty() {
            write!(f, "-{}", self.release)?;
        }
        Ok(())
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| rpmvercmp(&self.release, &other.release))
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equality is rpm's: `1.0` equals `1.00`.
impl PartialEq for Evr {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Evr {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;
    use Ordering::{Equal, Greater, Less};

    fn e(s: &str) -> Evr {
        s.parse().unwrap()
    }

    #[test]
    fn vercmp_known_cases() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0a", Less),
            ("5.5p1", "5.5p10", Less),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("1.01", "1.1", Equal),
            ("001", "1", Equal),
            ("1.0", "1_0", Equal),
            ("a", "1", Less),
            ("1", "a", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.01", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("", "1", Less),
            ("+", "", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_parse_display_and_epoch() {
        assert_eq!(e("2:1.2-3").epoch, 2);
        assert_eq!(e("2:1.2-3").version, "1.2");
        assert_eq!(e("2:1.2-3").release, "3");
        assert_eq!(e("1.2-3.el9-x").version, "1.2-3.el9");
        assert_eq!(e("1.2").release, "");
        assert_eq!(e("2:1.2-3").to_string(), "2:1.2-3");
        assert_eq!(e("0:1.2").to_string(), "1.2");
        assert!(e("1:0.1") > e("9.9"));
        assert!(e("0:9.9") < e("1:0.1"));
        assert_eq!(e("0:1.0-1"), e("1.0-1"));
        assert!(e("1.0-2") < e("1.0-10"));
        assert!(e("1.0-1") > e("1.0"));
        for bad in ["", "a:1.0", ":1.0", "1:", "1.0-", "1:2:3", "99999999999:1"] {
            assert!(bad.parse::<Evr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cmp_dep_ignores_a_missing_release() {
        assert_eq!(e("1.0").cmp_dep(&e("1.0-5")), Equal);
        assert_eq!(e("1.0-5").cmp_dep(&e("1.0")), Equal);
        assert_eq!(e("1.0-4").cmp_dep(&e("1.0-5")), Less);
        assert_eq!(e("1:1.0").cmp_dep(&e("1.0-5")), Greater);
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

    const PIECES: &[&str] = &[
        "0", "1", "2", "9", "10", "00", "007", "a", "b", "z", "A", "Z", "rc", "git", ".", "..",
        "_", "+", "~", "~~", "^", "^^", "el", "",
    ];

    fn gen_version(rng: &mut Rng) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(7) {
            s.push_str(rng.pick(PIECES));
        }
        s
    }

    /// A small change of `base`, so most pairs differ late in the string.
    fn mutate(rng: &mut Rng, base: &str) -> String {
        match rng.below(10) {
            0 => format!("{base}~"),
            1 => format!("{base}^"),
            2 => format!("{base}a"),
            3 => format!("{base}.0"),
            4 => format!("{base}_"),
            5 => base.to_string(),
            6 => base.replacen('1', "01", 1),
            7 => base.replacen('.', "~", 1),
            8 => base.replacen('.', "^", 1),
            _ => base.replacen('.', "", 1),
        }
    }

    fn corpus() -> Vec<(String, String)> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut pairs = Vec::new();
        while pairs.len() < 8000 {
            let a = gen_version(&mut rng);
            let b = if rng.below(2) == 0 {
                mutate(&mut rng, &a)
            } else {
                gen_version(&mut rng)
            };
            pairs.push((a, b));
        }
        pairs
    }

    /// Asks the real rpm for `rpm.vercmp(a, b)` of every pair, in one invocation: the pairs go
    /// into a Lua table in a script file that `rpm --eval` runs. `None` where rpm refuses the
    /// pair (it rejects an empty version).
    fn rpm_says(pairs: &[(String, String)]) -> Vec<Option<Ordering>> {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("pairs.lua");
        let mut lua = String::from("local p = {\n");
        for (a, b) in pairs {
            lua.push_str(&format!("{{\"{a}\", \"{b}\"}},\n"));
        }
        lua.push_str(
            "}\nlocal out = {}\nfor i, x in ipairs(p) do\n\
             local ok, r = pcall(rpm.vercmp, x[1], x[2])\n\
             out[i] = ok and r or \"x\"\n\
             end\n\
             print(table.concat(out, \"\\n\"))\n",
        );
        std::fs::File::create(&script)
            .unwrap()
            .write_all(lua.as_bytes())
            .unwrap();
        let output = Command::new("rpm")
            .arg("--eval")
            .arg(format!("%{{lua: dofile(\"{}\")}}", script.display()))
            .output()
            .unwrap();
        assert!(output.status.success(), "rpm failed: {output:?}");
        let out: Vec<Option<Ordering>> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| match l.trim() {
                "-1" => Some(Less),
                "0" => Some(Equal),
                "1" => Some(Greater),
                "x" => None,
                other => panic!("rpm printed `{other}`"),
            })
            .collect();
        assert_eq!(out.len(), pairs.len());
        out
    }

    fn have_rpm() -> bool {
        Command::new("rpm").arg("--version").output().is_ok()
    }

    #[test]
    fn matches_rpm_on_generated_corpus() {
        if !have_rpm() {
            eprintln!("rpm not found; skipping");
            return;
        }
        let pairs = corpus();
        let expected = rpm_says(&pairs);
        let mut mismatches = Vec::new();
        let mut checked = 0;
        for ((a, b), want) in pairs.iter().zip(expected) {
            let Some(want) = want else { continue };
            checked += 1;
            let got = rpmvercmp(a, b);
            if got != want {
                mismatches.push(format!("`{a}` vs `{b}`: rpm says {want:?}, we say {got:?}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
        assert!(checked >= 5000, "only {checked} pairs checked");
    }

    /// `rpm.vercmp` parses its arguments as EVRs; with an epoch and a release on both sides its
    /// answer is [`Evr`]'s order.
    #[test]
    fn evr_order_matches_rpm() {
        if !have_rpm() {
            eprintln!("rpm not found; skipping");
            return;
        }
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let mut pairs = Vec::new();
        while pairs.len() < 1000 {
            let gen = |rng: &mut Rng| {
                let v = format!("1{}", gen_version(rng));
                let r = format!("{}{}", rng.below(3), gen_version(rng));
                (rng.below(3), v, r)
            };
            let (ea, va, ra) = gen(&mut rng);
            let (eb, vb, rb) = if rng.below(2) == 0 {
                (ea, va.clone(), mutate(&mut rng, &ra))
            } else {
                gen(&mut rng)
            };
            pairs.push((format!("{ea}:{va}-{ra}"), format!("{eb}:{vb}-{rb}")));
        }
        let expected = rpm_says(&pairs);
        for ((a, b), want) in pairs.iter().zip(expected) {
            let want = want.unwrap_or_else(|| panic!("rpm refused `{a}` vs `{b}`"));
            assert_eq!(e(a).cmp(&e(b)), want, "`{a}` vs `{b}`");
        }
    }
}
