//! The command line of `pigsty-install`: its arguments, help texts and examples.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use pigsty_bundle::cli::{Shell, Verbosity};
use pigsty_install::mirror::Limits;
use pigsty_install::serve;
use pigsty_install::Trust;

/// Examples shown at the end of `pigsty-install --help`.
const EXAMPLES: &str = "\
Examples:
  Install a bundle, its signature checked with the key it was signed with:
    pigsty-install pigsty-pkg-v3.4.0.d12.x86_64.tgz --key pigsty.pub
  The same, as `install` (an alias), only printing what it would do:
    pigsty-install install pigsty-pkg-v3.4.0.d12.x86_64.tgz --key pigsty.pub --dry-run
  From the admin node's mirror, trusting the key it ships by its fingerprint:
    pigsty-install --from http://10.10.10.10/pigsty --fingerprint FPR --local-only
  Check a bundle without installing it, as JSON:
    pigsty-install verify pigsty-pkg-v3.4.0.d12.x86_64.tgz --key pigsty.pub --json
  What is installed, and going back to the repo the last install replaced:
    pigsty-install status
    pigsty-install rollback
  Serve the installed repo to the other nodes:
    pigsty-install serve --listen 0.0.0.0:80
  Shell completions and man pages:
    pigsty-install completions bash > /etc/bash_completion.d/pigsty-install
    pigsty-install man /usr/local/share/man/man1";

const VERIFY_EXAMPLES: &str = "\
Examples:
  pigsty-install verify pigsty-pkg-v3.4.0.d12.x86_64.tgz --key pigsty.pub
  pigsty-install verify --from http://10.10.10.10/pigsty --fingerprint FPR --json";

const STATUS_EXAMPLES: &str = "\
Examples:
  pigsty-install status
  pigsty-install status --root /srv/node1 --json";

const SERVE_EXAMPLES: &str = "\
Examples:
  pigsty-install serve
  pigsty-install serve --listen 10.10.10.10:8080 --dest /www --json";

/// Install a Pigsty bundle on a node with no network: verify it, lay out the local repo,
/// point apt or dnf at it (signed: never trusted=yes, never gpgcheck=0 for signed packages),
/// check that the node's packages do not block the bundle's, install the bootstrap set and
/// hand off to the config applier (a command, or Pigsty itself with --pigsty); a delta bundle
/// only on top of the repo it was made for. With
/// --from URL, the repo comes from a node that serves its own (`pigsty-install serve`) instead
/// of a bundle file, with the same checks.
#[derive(Parser)]
#[command(
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub install: InstallArgs,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl Cli {
    /// Whether the command asked for JSON (its errors are printed as JSON too).
    pub fn json(&self) -> bool {
        match &self.command {
            None => self.install.json,
            Some(Command::Install(a)) => a.json,
            Some(Command::Verify { json, .. })
            | Some(Command::Status { json, .. })
            | Some(Command::Rollback { json, .. })
            | Some(Command::RestoreRepos { json, .. })
            | Some(Command::Serve { json, .. }) => *json,
            Some(Command::Completions { .. }) | Some(Command::Man { .. }) => false,
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Install a bundle, or a mirror's repo with --from (the same as giving no subcommand)
    Install(Box<InstallArgs>),
    /// Check a bundle, or a mirror with --from (signature, then every file), without installing
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify {
        /// The bundle file
        #[arg(required_unless_present = "from")]
        bundle: Option<PathBuf>,
        /// Verify what a mirror serves instead (`http://ADMIN/pigsty`): its signed manifest,
        /// then every file, downloaded into a temporary folder and removed
        #[arg(long, value_name = "URL", conflicts_with = "bundle")]
        from: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the result (bundle, key fingerprint, target, files, packages) as JSON, or
        /// the error as {"error": {"kind", "message", "causes"}}
        #[arg(long)]
        json: bool,
    },
    /// Show what is installed from which bundle
    #[command(after_help = STATUS_EXAMPLES)]
    Status {
        /// Look at the system under DIR instead of this one
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Print the install record as JSON (null when nothing is installed), with
        /// `installed` in RFC 3339 beside `installed_at` in Unix time
        #[arg(long)]
        json: bool,
    },
    /// Return to the repo the last install replaced (kept in DEST/.pigsty-previous): its
    /// signature and files checked, swapped into place in one step, the package manager
    /// pointed at it; installed packages are left as they are
    Rollback {
        /// Operate on the system under DIR instead of this one
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Where the local repo is (the repo is DEST/pigsty)
        #[arg(long, default_value = "/www")]
        dest: String,
        /// Print the report as JSON, or the error as {"error": {...}}
        #[arg(long)]
        json: bool,
    },
    /// Put back the apt sources (or dnf .repo files) --local-only moved aside
    RestoreRepos {
        /// Operate on the system under DIR instead of this one
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Print the restored files as a JSON list, or the error as {"error": {...}}
        #[arg(long)]
        json: bool,
    },
    /// Serve the installed repo (DEST/pigsty) over HTTP under /pigsty/, for `pigsty-install
    /// --from http://THIS-NODE/pigsty` on other nodes, or for their apt or dnf directly;
    /// runs until SIGTERM or SIGINT, then lets requests under way finish
    #[command(after_help = SERVE_EXAMPLES)]
    Serve {
        /// The address and port to listen on
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:80")]
        listen: std::net::SocketAddr,
        /// The folder holding the repo (DEST/pigsty is served)
        #[arg(long, value_name = "DIR", default_value = "/www")]
        dest: PathBuf,
        /// Seconds requests under way may take to finish after SIGTERM or SIGINT
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        grace: u64,
        /// Seconds a client may take no byte of an answer before it is dropped
        #[arg(long, value_name = "SECS", default_value_t = serve::DEFAULT_WRITE_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        write_timeout: u64,
        /// The most connections served at once; more wait until one ends
        #[arg(long, value_name = "N", default_value_t = serve::DEFAULT_MAX_CONNECTIONS,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_connections: usize,
        /// Print the startup line (address, repo, pid) as JSON on stdout, or the error as
        /// {"error": {...}}
        #[arg(long)]
        json: bool,
    },
    /// Print the completion script for a shell on stdout (e.g. `pigsty-install completions
    /// bash > /etc/bash_completion.d/pigsty-install`)
    Completions {
        /// The shell
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
    /// Write man pages (pigsty-install.1 and one per subcommand) into OUTDIR
    #[command(hide = true)]
    Man {
        /// The folder to write them into (made if missing)
        #[arg(value_name = "OUTDIR")]
        outdir: PathBuf,
    },
}

/// What a mirror's downloads may take (`--from`).
#[derive(Args, Clone)]
pub struct LimitArgs {
    /// Give up a file not downloaded after SECS, plus its time at --min-speed
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub file_deadline: u64,
    /// Give up a download slower than BYTES a second over --speed-window
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub min_speed: u64,
    /// The window --min-speed is measured over, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub speed_window: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            deadline_floor: std::time::Duration::from_secs(self.file_deadline),
            min_speed: self.min_speed,
            window: std::time::Duration::from_secs(self.speed_window.max(1)),
        }
    }
}

#[derive(Args, Clone)]
pub struct TrustArgs {
    /// The trusted public key the bundle (or the mirror's manifest) must be signed with
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fingerprint", "insecure"])]
    pub key: Option<PathBuf>,
    /// Trust the key shipped in the bundle (or on the mirror) if it has this fingerprint
    #[arg(long, value_name = "FPR", conflicts_with = "insecure")]
    pub fingerprint: Option<String>,
    /// Accept an unsigned bundle (or mirror), or one signed by an unknown key: its files are
    /// still checked against its manifest, but nothing proves who made it
    #[arg(long)]
    pub insecure: bool,
}

impl TrustArgs {
    pub fn trust(&self, source: &dyn std::fmt::Display) -> Result<Trust> {
        Ok(match (&self.key, &self.fingerprint, self.insecure) {
            (Some(k), _, _) => Trust::Key(k.clone()),
            (_, Some(f), _) => Trust::Fingerprint(f.clone()),
            (_, _, true) => Trust::Insecure,
            _ => bail!(
                "{source}: no trusted key given: pass --key FILE or --fingerprint FPR (or --insecure)"
            ),
        })
    }
}

#[derive(Args, Clone)]
pub struct InstallArgs {
    /// The bundle file (.tgz or .tar.zst)
    pub bundle: Option<PathBuf>,
    /// Install from the repo a mirror serves (http://ADMIN/pigsty, see `serve`) instead of a
    /// bundle file: its signed manifest is checked as a bundle's, then every file is
    /// downloaded and checked against it
    #[arg(long, value_name = "URL", conflicts_with = "bundle")]
    pub from: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Where the local repo goes (the repo is DEST/pigsty)
    #[arg(long, default_value = "/www")]
    pub dest: String,
    /// Operate on the system under DIR (apt runs in `chroot DIR`)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Move every other apt source (or dnf .repo file) aside so the node uses only the bundle (see restore-repos)
    #[arg(long)]
    pub local_only: bool,
    /// Packages to install first [default: the bundle's bootstrap set]
    #[arg(long, value_name = "PKG", conflicts_with = "no_bootstrap")]
    pub bootstrap: Vec<String>,
    /// Install nothing; only lay out and configure the repo
    #[arg(long)]
    pub no_bootstrap: bool,
    /// Drift check: simulate installing every package of the bundle, not only the bootstrap set
    #[arg(long)]
    pub check_all: bool,
    /// The config applier to hand off to [default: the bundle's]: `sh -c CMD` inside the node
    /// (`chroot ROOT sh -c CMD` under --root), with a cleared environment (PATH, LANG,
    /// HOME=/root, PIGSTY_REPO, PIGSTY_TARGET, PIGSTY_BUNDLE), from `/`
    #[arg(long, value_name = "CMD", conflicts_with = "no_handoff")]
    pub then: Option<String>,
    /// Hand off to Pigsty itself: its source from the bundle (no value: the bundle's
    /// include/pigsty*.tgz, see `pigsty-build --include`) or a tarball or folder here;
    /// unpacked into --pigsty-dir on the node where that does not exist, configured with
    /// `./configure -i IP -n -v PG`, then each --playbook run with the offline vars file
    #[arg(long, value_name = "SRC.tgz|DIR", num_args = 0..=1, default_missing_value = "bundle",
          conflicts_with_all = ["then", "no_handoff"], requires = "ip")]
    pub pigsty: Option<String>,
    /// The node's address, for Pigsty's `./configure -i IP` (its admin_ip)
    #[arg(long, value_name = "IP", requires = "pigsty")]
    pub ip: Option<String>,
    /// A playbook for the Pigsty hand-off: what follows `ansible-playbook`, as a shell reads
    /// it (e.g. 'node.yml -t node_repo,node_pkg'), run in Pigsty's folder with `-e
    /// @pigsty-offline.yml` added; repeatable, run in order, stopping at the first that fails
    #[arg(long, value_name = "ARGS", requires = "pigsty")]
    pub playbook: Vec<String>,
    /// Pigsty's folder on the node
    #[arg(long, value_name = "DIR", default_value = "/root/pigsty")]
    pub pigsty_dir: String,
    /// Stop after the bootstrap
    #[arg(long)]
    pub no_handoff: bool,
    /// Install a bundle built for another OS or arch
    #[arg(long)]
    pub force: bool,
    /// Print every step and change nothing; fails, naming the path, where the install could
    /// not write (DEST, the package manager's source and key files, the install record)
    #[arg(long)]
    pub dry_run: bool,
    /// Install a bundle older (by version, then build time) than the installed one
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Print the report as JSON (steps, fingerprint, blockers, hand-off), or the error as
    /// {"error": {"kind", "message", "causes"}}
    #[arg(long)]
    pub json: bool,
    /// Never ask: the one question the installer asks, whether to run a hand-off the bundle
    /// proposes (never run without --then or a yes at the terminal), is answered no
    #[arg(short = 'y', long)]
    pub yes: bool,
}
