//! What both command lines share: the JSON error envelope and clap usage errors under
//! `--json`, shell completions and man pages, `-q`/`-v` logging, and progress on stderr.
//!
//! Output rules both binaries follow: the result (text or one JSON document) goes to stdout;
//! logs, progress and phase lines go to stderr. An error is one JSON document on stdout under
//! `--json` (`{"error": {"kind": ..., "message": ..., "causes": [...]}}`), a line on stderr
//! otherwise, with the same exit code either way.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgMatches, Command, FromArgMatches};
pub use clap_complete::Shell;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// What kind of failure an error is: the `kind` of the JSON error envelope. A short, fixed
/// set, so that a script can branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The command line is wrong (clap's errors, a missing argument).
    Usage,
    /// A signature or a key cannot be trusted, or is missing.
    Trust,
    /// A bundle, repo or file fails its checks (hash, size, format, content).
    Verify,
    /// The network or a mirror failed (connection, HTTP status, too slow).
    Network,
    /// Reading or writing the disk failed (missing file, read-only folder, no space).
    Io,
    /// The node refuses: not root, wrong OS, a lock held, packages in the way, a downgrade.
    Node,
    /// A command run on our behalf (apt, dnf, a hand-off) failed.
    Command,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The name printed in the envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Trust => "trust",
            ErrorKind::Verify => "verify",
            ErrorKind::Network => "network",
            ErrorKind::Io => "io",
            ErrorKind::Node => "node",
            ErrorKind::Command => "command",
            ErrorKind::Other => "other",
        }
    }

    /// The exit code: 2 for usage errors (as clap's own), 1 for the rest.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of the error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    /// The error's sources, outermost first, each once.
    pub causes: Vec<String>,
}

/// `{"error": {...}}`: what a command prints on stdout under `--json` when it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

impl ErrorEnvelope {
    /// The envelope of an error and its chain of sources.
    pub fn new(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> ErrorEnvelope {
        let (message, causes) = chain(err);
        ErrorEnvelope {
            error: ErrorBody {
                kind,
                message,
                causes,
            },
        }
    }

    /// The envelope of a message with no sources.
    pub fn message(kind: ErrorKind, message: impl Into<String>) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                kind,
                message: message.into(),
                causes: Vec::new(),
            },
        }
    }

    /// The plain-text form: `error: MESSAGE: CAUSE: CAUSE`.
    pub fn plain(&self) -> String {
        let mut s = format!("error: {}", self.error.message);
        for c in &self.error.causes {
            s.push_str(": ");
            s.push_str(c);
        }
        s
    }

    /// Prints the envelope: one JSON document on stdout under `json`, the plain line on
    /// stderr otherwise. Returns the exit code of its kind.
    pub fn print(&self, json: bool) -> ExitCode {
        if json {
            if print_json(self).is_err() {
                // stdout is gone: say it where someone may still read it.
                eprintln!("{}", self.plain());
            }
        } else {
            eprintln!("{}", self.plain());
        }
        ExitCode::from(self.error.kind.exit_code())
    }
}

/// An error's message and its sources, each once: a source whose text is already part of
/// the message or of an outer source (an error that repeats its source, or a transparent
/// wrapper) is left out.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> (String, Vec<String>) {
    let message = err.to_string();
    let mut causes: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        let seen =
            text.is_empty() || message.contains(&text) || causes.iter().any(|c| c.contains(&text));
        if !seen {
            causes.push(text);
        }
        next = e.source();
    }
    (message, causes)
}

/// One JSON document on stdout, pretty-printed, flushed.
pub fn print_json(value: &impl Serialize) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()
}

/// Whether `--json` is among the arguments (before a `--`): how a usage error, found before
/// anything is parsed, knows how to print itself.
pub fn json_requested<I, T>(args: I) -> bool
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    args.into_iter()
        .map(Into::into)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Parses the process's arguments into `P` with `cmd` (the `P::command()`, perhaps adjusted):
/// help and version print as clap prints them; a usage error prints as clap prints it, or as
/// the JSON envelope (kind `usage`, exit code 2) when `--json` was given.
pub fn parse<P: FromArgMatches>(cmd: Command) -> P {
    let args = verbosity_after_subcommand(&cmd, std::env::args_os().collect());
    match try_parse(cmd, args.clone()) {
        Ok(p) => p,
        Err(e) => exit_usage(e, json_requested(args.into_iter().skip(1))),
    }
}

/// `-q`/`-v` given before a subcommand (`pigsty-install -q verify B`) moved after its name.
/// Both binaries take their default command's arguments at the top level with
/// `args_conflicts_with_subcommands`, under which clap counts a global flag as such an
/// argument and no longer looks for a subcommand; after the name, the global flag is taken.
pub fn verbosity_after_subcommand(cmd: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let is_verbosity = |a: &OsString| {
        let a = a.to_string_lossy();
        a == "--quiet"
            || a == "--verbose"
            || (a.len() > 1
                && a.starts_with('-')
                && !a.starts_with("--")
                && a[1..].chars().all(|c| c == 'q' || c == 'v'))
    };
    let leading = args.iter().skip(1).take_while(|a| is_verbosity(a)).count();
    let Some(next) = args.get(1 + leading) else {
        return args;
    };
    let next = next.to_string_lossy();
    let is_sub = cmd
        .get_subcommands()
        .any(|s| s.get_name() == next || s.get_all_aliases().any(|a| a == next));
    if leading == 0 || !is_sub {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    out.extend(args[..1].iter().cloned());
    out.push(args[1 + leading].clone());
    out.extend(args[1..1 + leading].iter().cloned());
    out.extend(args[2 + leading..].iter().cloned());
    out
}

/// [`parse`] on given arguments, with clap's error returned.
pub fn try_parse<P: FromArgMatches>(cmd: Command, args: Vec<OsString>) -> Result<P, clap::Error> {
    let mut matches: ArgMatches = cmd.try_get_matches_from(args)?;
    P::from_arg_matches_mut(&mut matches)
}

/// Ends the process on a clap error: help and version as clap prints them (exit 0); a usage
/// error as clap prints it, or as the envelope under `json` (exit 2 either way).
pub fn exit_usage(e: clap::Error, json: bool) -> ! {
    use clap::error::ErrorKind as K;
    let informational = matches!(
        e.kind(),
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || informational {
        e.exit();
    }
    usage_envelope(&e).print(true);
    std::process::exit(i32::from(ErrorKind::Usage.exit_code()));
}

/// A clap error as the envelope: its message (without the `error: ` prefix), the rest of
/// its text (tips, usage line) as causes.
pub fn usage_envelope(e: &clap::Error) -> ErrorEnvelope {
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"));
    let message = lines
        .next()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .unwrap_or_else(|| "invalid command line".to_string());
    ErrorEnvelope {
        error: ErrorBody {
            kind: ErrorKind::Usage,
            message,
            causes: lines.map(str::to_string).collect(),
        },
    }
}

/// Writes the completion script of `cmd` for `shell` (bash, zsh, fish, elvish, powershell).
/// The script is made whole first, then written: clap_complete panics when its writer fails
/// (a closed pipe), this returns the error.
pub fn write_completions(
    cmd: &mut Command,
    shell: Shell,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, cmd, name, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Writes a man page for `cmd` and one for each of its subcommands, at every depth, hidden
/// ones left out (`NAME.1`, `NAME-SUB.1`, ...) into `dir` (made if missing). Returns the
/// files written.
pub fn write_man_pages(cmd: Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn write(cmd: Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            write(sub, dir, out)?;
        }
        out.push(clap_mangen::Man::new(cmd).generate_to(dir)?);
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Built first: subcommands get their full names (`pigsty-install-verify`).
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    write(cmd, dir, &mut out)?;
    Ok(out)
}

/// `man OUTDIR` of both binaries: [`write_man_pages`], then each page's path on stdout.
pub fn print_man_pages(cmd: Command, dir: &Path) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for page in write_man_pages(cmd, dir)? {
        writeln!(out, "{}", page.display())?;
    }
    out.flush()
}

/// `-q/--quiet` and `-v` (repeatable), for `#[command(flatten)]` at the top of a command.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// Print only errors: no progress, no phase lines, no warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log more on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Verbosity {
    /// The tracing filter the flags ask for: error (quiet), warn, info, debug, trace.
    pub fn filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        }
    }

    /// Sets up logging on stderr: the filter from `RUST_LOG` where it is set and valid, from
    /// the flags otherwise. Call once, first thing; a second call changes nothing.
    pub fn init_logging(&self) {
        use tracing_subscriber::EnvFilter;
        let filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| EnvFilter::try_new(v).ok())
            .unwrap_or_else(|| EnvFilter::new(self.filter()));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(stderr_is_terminal())
            .without_time()
            .with_target(self.verbose >= 2)
            .try_init();
    }
}

/// Whether stderr is a terminal (progress bars and spinners there; plain lines otherwise).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Phase lines and progress on stderr. On a terminal, the phase under way shows as a spinner
/// with its elapsed time (or a bar with [`Progress::bar`]) and finished ones stay as lines;
/// elsewhere, a plain line per phase; with `quiet`, nothing.
pub struct Progress {
    mode: Mode,
    current: Option<ProgressBar>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Lines,
    Terminal,
}

const SPINNER_TEMPLATE: &str = "{spinner} {msg} ({elapsed})";
const BAR_TEMPLATE: &str =
    "{spinner} {msg} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}";

impl Progress {
    /// Progress as the terminal allows: spinners on a terminal, lines elsewhere, nothing
    /// under `quiet`.
    pub fn new(quiet: bool) -> Progress {
        Progress::with(quiet, stderr_is_terminal())
    }

    /// Progress with the terminal question answered by the caller.
    pub fn with(quiet: bool, terminal: bool) -> Progress {
        let mode = match (quiet, terminal) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Terminal,
            (false, false) => Mode::Lines,
        };
        Progress {
            mode,
            current: None,
        }
    }

    /// Whether anything is shown at all.
    pub fn is_quiet(&self) -> bool {
        self.mode == Mode::Quiet
    }

    /// A new phase: the previous one is done (its line stays), this one shows as a spinner on
    /// a terminal, as a line elsewhere.
    pub fn phase(&mut self, msg: &str) {
        self.end();
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => eprintln!("{msg}"),
            Mode::Terminal => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(SPINNER_TEMPLATE) {
                    bar.set_style(style);
                }
                bar.set_message(msg.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.current = Some(bar);
            }
        }
    }

    /// A new phase that moves `total` bytes: a bar on a terminal (move it with
    /// [`Progress::advance`]), a line elsewhere.
    pub fn bar(&mut self, msg: &str, total: u64) {
        self.end();
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => eprintln!("{msg}"),
            Mode::Terminal => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(msg.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                self.current = Some(bar);
            }
        }
    }

    /// A new phase that reads or writes about `total` bytes in code with no progress hooks
    /// (extracting a bundle, downloading a mirror's files, reading a bundle to verify it): a
    /// bar on a terminal that follows what the whole process has read or written since the
    /// phase began ([`IoCounter`]), a line elsewhere.
    pub fn bar_following(&mut self, msg: &str, total: u64, counter: IoCounter) {
        self.bar(msg, total);
        let Some(bar) = self.current.clone() else {
            return;
        };
        let Some(start) = counter.read() else {
            return;
        };
        // Polls until the phase ends (its bar is finished); a dropped bar ends it too.
        let spawned = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !bar.is_finished() {
                    if let Some(now) = counter.read() {
                        bar.set_position(now.saturating_sub(start).min(total));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        // No thread: the bar still ticks, without bytes.
        drop(spawned);
    }

    /// Moves the current bar by `bytes`.
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.current {
            bar.inc(bytes);
        }
    }

    /// A line that is not a phase (a warning, a detail): printed above the spinner on a
    /// terminal, as a line elsewhere.
    pub fn note(&self, msg: &str) {
        match (&self.current, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(msg),
            (None, _) => eprintln!("{msg}"),
        }
    }

    /// A step is done: the current spinner, if any, is replaced by `msg` as a line.
    pub fn done(&mut self, msg: &str) {
        self.clear();
        if self.mode != Mode::Quiet {
            eprintln!("{msg}");
        }
    }

    /// The current spinner, if any, is removed and leaves no line (the caller prints what
    /// came of it).
    pub fn clear(&mut self) {
        if let Some(bar) = self.current.take() {
            bar.finish_and_clear();
        }
    }

    /// The current phase is done: its spinner becomes a plain line.
    pub fn end(&mut self) {
        if let Some(bar) = self.current.take() {
            let msg = bar.message();
            bar.finish_and_clear();
            eprintln!("{msg}");
        }
    }
}

/// Bytes the whole process has read or written so far, from the kernel's I/O accounting
/// (`/proc/self/io`: `rchar`, `wchar`; every thread counted, page cache or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoCounter {
    Read,
    Written,
}

impl IoCounter {
    /// The counter now; `None` where the kernel does not account I/O.
    pub fn read(self) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let field = match self {
            IoCounter::Read => "rchar:",
            IoCounter::Written => "wchar:",
        };
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {0}")]
    struct Outer(&'static str, #[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("open failed")]
    struct Inner(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("wrapper: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn chain_lists_each_source_once() {
        let e = Outer(
            "x.tgz",
            Inner(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
        );
        let env = ErrorEnvelope::new(ErrorKind::Io, &e);
        assert_eq!(env.error.message, "cannot read x.tgz");
        assert_eq!(env.error.causes, vec!["open failed", "gone"]);
        assert_eq!(env.plain(), "error: cannot read x.tgz: open failed: gone");
        let v = serde_json::to_value(&env).expect("json");
        assert_eq!(v["error"]["kind"], "io");
        assert_eq!(v["error"]["causes"][1], "gone");
    }

    #[test]
    fn chain_drops_a_source_the_message_repeats() {
        let e = Repeats(std::io::Error::other("disk full"));
        let (message, causes) = chain(&e);
        assert_eq!(message, "wrapper: disk full");
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn json_flag_found_before_double_dash_only() {
        assert!(json_requested(["verify", "--json", "x"]));
        assert!(!json_requested(["verify", "--", "--json"]));
        assert!(!json_requested(["verify", "--jsonx"]));
    }

    #[test]
    fn usage_error_as_envelope() {
        let cmd = Command::new("t").arg(clap::Arg::new("json").long("json").num_args(0));
        let e = cmd
            .try_get_matches_from(["t", "--nope", "--json"])
            .expect_err("unknown flag");
        let env = usage_envelope(&e);
        assert_eq!(env.error.kind, ErrorKind::Usage);
        assert!(env.error.message.contains("--nope"), "{env:?}");
        assert!(!env.error.message.starts_with("error:"));
    }

    #[test]
    fn leading_verbosity_moves_after_the_subcommand() {
        let cmd = Command::new("t").subcommand(Command::new("verify"));
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            verbosity_after_subcommand(&cmd, os(&["t", "-q", "-vv", "verify", "b"])),
            os(&["t", "verify", "-q", "-vv", "b"])
        );
        // No subcommand follows: as given.
        assert_eq!(
            verbosity_after_subcommand(&cmd, os(&["t", "-q", "b.tgz"])),
            os(&["t", "-q", "b.tgz"])
        );
        assert_eq!(
            verbosity_after_subcommand(&cmd, os(&["t", "verify", "-v"])),
            os(&["t", "verify", "-v"])
        );
    }

    #[test]
    fn io_counters_follow_what_the_process_writes_and_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let (w0, r0) = (
            IoCounter::Written.read().expect("wchar"),
            IoCounter::Read.read().expect("rchar"),
        );
        std::fs::write(&path, vec![7u8; 1 << 20]).expect("write");
        let w1 = IoCounter::Written.read().expect("wchar");
        assert!(w1 - w0 >= 1 << 20, "{w0} -> {w1}");
        let back = std::fs::read(&path).expect("read");
        assert_eq!(back.len(), 1 << 20);
        let r1 = IoCounter::Read.read().expect("rchar");
        assert!(r1 - r0 >= 1 << 20, "{r0} -> {r1}");
    }

    #[test]
    fn verbosity_filters() {
        let v = |quiet, verbose| Verbosity { quiet, verbose }.filter();
        assert_eq!(v(true, 0), "error");
        assert_eq!(v(false, 0), "warn");
        assert_eq!(v(false, 1), "info");
        assert_eq!(v(false, 2), "debug");
        assert_eq!(v(false, 5), "trace");
    }

    #[test]
    fn man_pages_for_every_visible_subcommand() {
        let cmd = Command::new("tool")
            .subcommand(Command::new("one").subcommand(Command::new("deep")))
            .subcommand(Command::new("secret").hide(true));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut names: Vec<String> = write_man_pages(cmd, dir.path())
            .expect("man")
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        assert_eq!(names, ["tool-one-deep.1", "tool-one.1", "tool.1"]);
    }

    #[test]
    fn completions_for_every_shell() {
        let mut cmd = Command::new("tool").subcommand(Command::new("verify"));
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            write_completions(&mut cmd, shell, &mut out).unwrap();
            let text = String::from_utf8(out).expect("utf-8");
            assert!(text.contains("verify"), "{shell}: {text}");
        }
    }
}
