//! The node being installed: its root (`/` or `--root DIR`), OS and arch, and how to run a
//! command on it (directly, or `chroot ROOT` when a root is given).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pigsty_bundle::{Arch, Family, Os};

/// The system `pigsty-install` works on.
#[derive(Debug, Clone)]
pub struct Node {
    /// `/` for the running system, else the root given with `--root`.
    pub root: PathBuf,
    pub os: Os,
    pub arch: Arch,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Os(#[from] pigsty_bundle::TargetError),
    #[error("cannot write {} (checked at {}){hint}", path.display(), checked.display())]
    NotWritable {
        /// The path the install writes.
        path: PathBuf,
        /// What was checked: the path itself, or the nearest folder above it that exists.
        checked: PathBuf,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `{cmd}`")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
}

impl Node {
    /// Detects the node under `root`: its OS from `etc/os-release`, its arch from its package
    /// database (the arch of the installed `dpkg` package, or of rpm's own packages), so that
    /// an arm64 root is seen as arm64 from an x86_64 host. Where the database says nothing,
    /// the host's arch.
    pub fn detect(root: &Path) -> Result<Node, NodeError> {
        // Absolute, so that paths under it are told apart from the node's view of them.
        let root = &std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let os = Os::detect(&root.join("etc/os-release"))?;
        let found = match os.family() {
            Family::Deb => dpkg_arch(root),
            Family::Rpm => rpm_arch(root),
        };
        let arch = match found {
            Some(a) => a,
            None => Arch::host()?,
        };
        Ok(Node {
            root: root.to_path_buf(),
            os,
            arch,
        })
    }

    /// Whether the node's path `abs` (`/etc/apt/keyrings/pigsty.asc`) could be written, with
    /// nothing written: the path itself where it exists, else the nearest folder above it
    /// that exists (where it would be made), asked of the kernel with `access(W_OK)`, which
    /// refuses on a read-only mount or an immutable file even for root.
    pub fn check_writable(&self, abs: &str) -> Result<(), NodeError> {
        let path = self.path(abs);
        let checked = path
            .ancestors()
            .find(|p| p.symlink_metadata().is_ok())
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        match rustix::fs::access(&checked, rustix::fs::Access::WRITE_OK) {
            Ok(()) => Ok(()),
            Err(errno) => Err(NodeError::NotWritable {
                path,
                checked,
                hint: if rustix::process::geteuid().is_root() {
                    ""
                } else {
                    "; run as root"
                },
                source: errno.into(),
            }),
        }
    }

    /// A path of the node (`/etc/apt/...`) as seen from here.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    /// A command to run on the node, with a clean environment and no prompts.
    pub fn command(&self, program: &str, args: &[String]) -> Command {
        let mut c = if self.is_host() {
            Command::new(program)
        } else {
            let mut c = Command::new("chroot");
            c.arg(&self.root).arg(program);
            c
        };
        c.args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8");
        c
    }

    /// Runs a command on the node and returns its output.
    pub fn run(&self, program: &str, args: &[String]) -> Result<Output, NodeError> {
        self.command(program, args)
            .output()
            .map_err(|source| NodeError::Spawn {
                cmd: format!("{program} {}", args.join(" ")),
                source,
            })
    }
}

/// The node's dpkg architecture: the `Architecture` of the `dpkg` package in
/// `var/lib/dpkg/status` (what `dpkg --print-architecture` prints: dpkg is built for the
/// native arch). `var/lib/dpkg/arch` is not used: a fresh debootstrap has none, and it lists
/// foreign archs too. Read line by line, the file is not held whole.
fn dpkg_arch(root: &Path) -> Option<Arch> {
    use std::io::BufRead;
    let file = std::fs::File::open(root.join("var/lib/dpkg/status")).ok()?;
    let mut in_dpkg = false;
    let mut line = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    loop {
        line.clear();
        // A line longer than this is no line of a status file we need.
        let n = std::io::Read::take(&mut reader, 64 * 1024)
            .read_until(b'\n', &mut line)
            .ok()?;
        if n == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            in_dpkg = false;
        } else if let Some(name) = text.strip_prefix("Package:") {
            in_dpkg = name.trim() == "dpkg";
        } else if let (true, Some(arch)) = (in_dpkg, text.strip_prefix("Architecture:")) {
            return arch.trim().parse().ok();
        }
    }
}

/// The node's rpm architecture: that of its `rpm` package, else `glibc`'s, from its rpm
/// database (`rpm --root`; noarch never answers).
fn rpm_arch(root: &Path) -> Option<Arch> {
    let mut c = Command::new("rpm");
    if root != Path::new("/") {
        c.arg("--root").arg(root);
    }
    let out = c
        .args(["-q", "--qf", "%{ARCH}\\n", "rpm", "glibc"])
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().parse().ok())
}
