//! Download progress on stderr: a bar on a terminal, a line per file otherwise, or nothing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::FetchItem;

/// The progress bar: packages done/total, bytes, rate, ETA.
pub(super) const BAR_TEMPLATE: &str =
    "{spinner} {msg} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}";

/// Progress on stderr: a bar, plain lines, or nothing.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    done: AtomicUsize,
    total: usize,
}

impl Progress {
    pub(super) fn new(on: bool, total: usize, done: usize, bytes: u64) -> Progress {
        let terminal = on && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("{done}/{total}"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            lines: on && !terminal,
            done: AtomicUsize::new(done),
            total,
        }
    }

    /// Moves the byte count of one download from `shown` to `now`.
    pub(super) fn bytes(&self, shown: &mut u64, now: u64) {
        if let Some(bar) = &self.bar {
            if now >= *shown {
                bar.inc(now - *shown);
            } else {
                bar.dec(*shown - now);
            }
        }
        *shown = now;
    }

    pub(super) fn fetched(&self, item: &FetchItem) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{done}/{}", self.total));
        } else if self.lines {
            eprintln!("{}", fetched_line(done, self.total, item));
        }
    }

    pub(super) fn note(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.println(msg);
        } else if self.lines {
            eprintln!("{msg}");
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The plain progress line: `fetched 12/340 NAME (1.20 MB)`.
pub(super) fn fetched_line(done: usize, total: usize, item: &FetchItem) -> String {
    format!(
        "fetched {done}/{total} {} ({})",
        item.name,
        DecimalBytes(item.size)
    )
}
