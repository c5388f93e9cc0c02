//! Build targets: which OS, CPU architecture and PostgreSQL major a bundle is for.
//!
//! An OS is named by a short code (`el9`, `d12`, `u24`, ...) as Pigsty names them. Each code
//! knows its package family (rpm or deb), its release number and, for Debian and Ubuntu, its
//! codename. [`Os::detect`] maps an `os-release` file to a code, so that the builder can default
//! to the host's OS and the installer can refuse a bundle made for another one.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The package format and manager of an OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `.rpm` packages, dnf/yum repositories (EL).
    Rpm,
    /// `.deb` packages, apt repositories (Debian, Ubuntu).
    Deb,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Rpm => "rpm",
            Family::Deb => "deb",
        }
    }

    /// The repository format of the family: `apt` or `dnf`.
    pub fn repo_format(self) -> &'static str {
        match self {
            Family::Rpm => "dnf",
            Family::Deb => "apt",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A supported OS release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Os {
    El8,
    El9,
    El10,
    D12,
    D13,
    U22,
    U24,
    U26,
}

impl Os {
    /// Every supported OS, in the order Pigsty lists them.
    pub const ALL: [Os; 8] = [
        Os::El8,
        Os::El9,
        Os::El10,
        Os::D12,
        Os::D13,
        Os::U22,
        Os::U24,
        Os::U26,
    ];

    /// The short code: `el9`, `d12`, `u24`.
    pub fn code(self) -> &'static str {
        match self {
            Os::El8 => "el8",
            Os::El9 => "el9",
            Os::El10 => "el10",
            Os::D12 => "d12",
            Os::D13 => "d13",
            Os::U22 => "u22",
            Os::U24 => "u24",
            Os::U26 => "u26",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Os::El8 | Os::El9 | Os::El10 => Family::Rpm,
            _ => Family::Deb,
        }
    }

    /// The distribution: `el`, `debian` or `ubuntu` (Pigsty's `distro_name`).
    pub fn distro(self) -> &'static str {
        match self {
            Os::El8 | Os::El9 | Os::El10 => "el",
            Os::D12 | Os::D13 => "debian",
            _ => "ubuntu",
        }
    }

    /// The major release number as Pigsty's repo lists use it (`9`, `12`, `24`).
    pub fn release(self) -> u32 {
        match self {
            Os::El8 => 8,
            Os::El9 => 9,
            Os::El10 => 10,
            Os::D12 => 12,
            Os::D13 => 13,
            Os::U22 => 22,
            Os::U24 => 24,
            Os::U26 => 26,
        }
    }

    /// The full version as `os-release` spells it (`9`, `12`, `24.04`).
    pub fn version_id(self) -> &'static str {
        match self {
            Os::El8 => "8",
            Os::El9 => "9",
            Os::El10 => "10",
            Os::D12 => "12",
            Os::D13 => "13",
            Os::U22 => "22.04",
            Os::U24 => "24.04",
            Os::U26 => "26.04",
        }
    }

    /// The apt codename (`bookworm`, `noble`); `None` for EL.
    pub fn codename(self) -> Option<&'static str> {
        match self {
            Os::El8 | Os::El9 | Os::El10 => None,
            Os::D12 => Some("bookworm"),
            Os::D13 => Some("trixie"),
            Os::U22 => Some("jammy"),
            Os::U24 => Some("noble"),
            Os::U26 => Some("resolute"),
        }
    }

    /// The list of supported codes, for error messages.
    pub fn supported() -> String {
        Os::ALL
            .iter()
            .map(|o| o.code())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Detects the OS of a running system from its `os-release` file.
    pub fn detect(os_release: &Path) -> Result<Os, TargetError> {
        let text = std::fs::read_to_string(os_release).map_err(|e| TargetError::OsRelease {
            path: os_release.display().to_string(),
            reason: e.to_string(),
        })?;
        Os::from_os_release(&text).map_err(|reason| TargetError::OsRelease {
            path: os_release.display().to_string(),
            reason,
        })
    }

    /// Maps the contents of an `os-release` file to an OS code.
    pub fn from_os_release(text: &str) -> Result<Os, String> {
        let field = |key: &str| -> Option<String> {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
            })
        };
        let id = field("ID").unwrap_or_default().to_lowercase();
        let like = field("ID_LIKE").unwrap_or_default().to_lowercase();
        let version = field("VERSION_ID").unwrap_or_default();
        let major = version.split('.').next().unwrap_or("").to_string();
        let is_el = ["rhel", "rocky", "almalinux", "centos", "ol", "fedora"]
            .iter()
            .any(|d| id == *d || like.split_whitespace().any(|l| l == *d))
            && id != "fedora";
        let found = if id == "debian" {
            Os::ALL
                .iter()
                .find(|o| o.distro() == "debian" && o.version_id() == major)
        } else if id == "ubuntu" {
            Os::ALL
                .iter()
                .find(|o| o.distro() == "ubuntu" && o.version_id() == version)
        } else if is_el {
            Os::ALL
                .iter()
                .find(|o| o.distro() == "el" && o.version_id() == major)
        } else {
            None
        };
        found.copied().ok_or_else(|| {
            format!(
                "{} {} is not a supported OS (supported: {})",
                if id.is_empty() { "unknown" } else { &id },
                version,
                Os::supported()
            )
        })
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Os {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_lowercase();
        Os::ALL
            .iter()
            .find(|o| o.code() == s)
            .copied()
            .ok_or_else(|| TargetError::UnsupportedOs {
                given: s,
                supported: Os::supported(),
            })
    }
}

impl TryFrom<String> for Os {
    type Error = TargetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Os> for String {
    fn from(o: Os) -> String {
        o.code().to_string()
    }
}

/// A CPU architecture, named as Pigsty and EL name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// `x86_64` or `aarch64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The Debian architecture name: `amd64` or `arm64`.
    pub fn deb(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The one-letter suffix Pigsty's availability matrix uses: `i` or `a`.
    pub fn matrix_letter(self) -> char {
        match self {
            Arch::X86_64 => 'i',
            Arch::Aarch64 => 'a',
        }
    }

    /// The architecture this program runs on, if supported.
    pub fn host() -> Result<Arch, TargetError> {
        std::env::consts::ARCH.parse()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "x86_64" | "amd64" | "x64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => Err(TargetError::UnsupportedArch {
                given: other.to_string(),
            }),
        }
    }
}

impl TryFrom<String> for Arch {
    type Error = TargetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.as_str().to_string()
    }
}

/// PostgreSQL majors a bundle can be built for without `--beta`.
pub const PG_SUPPORTED: std::ops::RangeInclusive<u32> = 13..=18;
/// PostgreSQL majors that are still in beta: only with `--beta`.
pub const PG_BETA: &[u32] = &[19];
/// The PostgreSQL major used when none is given.
pub const PG_DEFAULT: u32 = 18;

/// Checks a PostgreSQL major against the supported ones.
pub fn check_pg(pg: u32, beta: bool) -> Result<u32, TargetError> {
    if PG_SUPPORTED.contains(&pg) || (beta && PG_BETA.contains(&pg)) {
        return Ok(pg);
    }
    let mut supported = PG_SUPPORTED
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if PG_BETA.contains(&pg) {
        return Err(TargetError::BetaPg { pg, supported });
    }
    if beta {
        for b in PG_BETA {
            supported.push_str(&format!(", {b} (beta)"));
        }
    }
    Err(TargetError::UnsupportedPg { pg, supported })
}

/// One build target: an OS, an architecture and a PostgreSQL major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub os: Os,
    pub arch: Arch,
    pub pg: u32,
}

impl Target {
    pub fn new(os: Os, arch: Arch, pg: u32) -> Target {
        Target { os, arch, pg }
    }

    pub fn family(&self) -> Family {
        self.os.family()
    }

    /// Pigsty's availability matrix key for this OS and arch: `el9i`, `d12a`.
    pub fn matrix_key(&self) -> String {
        format!("{}{}", self.os.code(), self.arch.matrix_letter())
    }

    /// `el9.x86_64`, the form Pigsty's file names and `os_exclude` lists use.
    pub fn os_arch(&self) -> String {
        format!("{}.{}", self.os.code(), self.arch.as_str())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}/pg{}", self.os, self.arch, self.pg)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("unsupported OS `{given}`; supported: {supported}")]
    UnsupportedOs { given: String, supported: String },
    #[error("unsupported architecture `{given}`; supported: x86_64 (amd64), aarch64 (arm64)")]
    UnsupportedArch { given: String },
    #[error("unsupported PostgreSQL major {pg}; supported: {supported}")]
    UnsupportedPg { pg: u32, supported: String },
    #[error("PostgreSQL {pg} is a beta; pass --beta to build it (stable majors: {supported})")]
    BetaPg { pg: u32, supported: String },
    #[error("cannot tell the OS from {path}: {reason}")]
    OsRelease { path: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_refuses_others() {
        assert_eq!("el9".parse::<Os>().unwrap(), Os::El9);
        assert_eq!("D12".parse::<Os>().unwrap(), Os::D12);
        let err = "el7".parse::<Os>().unwrap_err().to_string();
        assert!(
            err.contains("el7") && err.contains("el8, el9, el10, d12, d13, u22, u24, u26"),
            "{err}"
        );
    }

    #[test]
    fn arch_aliases() {
        assert_eq!("amd64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!("arm64".parse::<Arch>().unwrap(), Arch::Aarch64);
        assert!("riscv64"
            .parse::<Arch>()
            .unwrap_err()
            .to_string()
            .contains("riscv64"));
    }

    #[test]
    fn pg_majors() {
        assert_eq!(check_pg(13, false), Ok(13));
        assert_eq!(check_pg(18, false), Ok(18));
        assert!(matches!(
            check_pg(12, false),
            Err(TargetError::UnsupportedPg { pg: 12, .. })
        ));
        assert!(matches!(
            check_pg(19, false),
            Err(TargetError::BetaPg { pg: 19, .. })
        ));
        assert_eq!(check_pg(19, true), Ok(19));
        assert!(matches!(
            check_pg(20, true),
            Err(TargetError::UnsupportedPg { pg: 20, .. })
        ));
    }

    #[test]
    fn detects_from_os_release() {
        let deb = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(Os::from_os_release(deb), Ok(Os::D12));
        let rocky = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n";
        assert_eq!(Os::from_os_release(rocky), Ok(Os::El9));
        let ubuntu = "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n";
        assert_eq!(Os::from_os_release(ubuntu), Ok(Os::U24));
        let old = "ID=centos\nVERSION_ID=\"7\"\n";
        assert!(Os::from_os_release(old).unwrap_err().contains("centos 7"));
        let fedora = "ID=fedora\nVERSION_ID=40\n";
        assert!(Os::from_os_release(fedora).is_err());
    }

    #[test]
    fn target_keys() {
        let t = Target::new(Os::El9, Arch::X86_64, 17);
        assert_eq!(t.matrix_key(), "el9i");
        assert_eq!(t.os_arch(), "el9.x86_64");
        assert_eq!(t.to_string(), "el9.x86_64/pg17");
    }
}
