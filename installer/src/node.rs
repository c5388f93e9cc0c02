//! The node being installed: its root (`/` or `--root DIR`), OS and arch, and how to run a
//! command on it (directly, or `chroot ROOT` when a root is given).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pigsty_bundle::{Arch, Os};

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
    #[error("cannot run `{cmd}`")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
}

impl Node {
    /// Detects the node under `root` from its `etc/os-release`.
    pub fn detect(root: &Path) -> Result<Node, NodeError> {
        let os = Os::detect(&root.join("etc/os-release"))?;
        let arch = dpkg_arch(root).unwrap_or(Arch::host()?);
        Ok(Node {
            root: root.to_path_buf(),
            os,
            arch,
        })
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

/// The node's dpkg architecture, if it has dpkg.
fn dpkg_arch(root: &Path) -> Option<Arch> {
    let text = std::fs::read_to_string(root.join("var/lib/dpkg/arch")).ok()?;
    text.lines().next()?.trim().parse().ok()
}
