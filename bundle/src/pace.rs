//! What a download may take, as a pure rule both sides can apply to their own HTTP client: how
//! a transient failure is retried ([`Retry`]), an overall deadline per file (a floor, plus the file's time at the minimum speed) and a
//! minimum speed measured over a window. A server that trickles a byte every few seconds, or
//! that promises more bytes than it sends, is given up in bounded time instead of holding
//! the process forever. No clock of its own and no HTTP here: the caller says what time it
//! is, so that the rule is tested without waiting.

use std::time::{Duration, Instant};

/// The limits of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The least time any file is given.
    pub deadline_floor: Duration,
    /// Bytes per second; below it for a whole `window`, the transfer fails.
    pub min_speed: u64,
    pub window: Duration,
}

impl Default for Limits {
    /// 10 minutes at least per file, 1 KiB/s over 30 s (the builder's defaults).
    fn default() -> Limits {
        Limits {
            deadline_floor: Duration::from_secs(600),
            min_speed: 1024,
            window: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The deadline of a file of `size` bytes: the floor plus its time at the minimum speed.
    pub fn deadline_for(&self, size: u64) -> Duration {
        let at_min = size / self.min_speed.max(1);
        self.deadline_floor
            .saturating_add(Duration::from_secs(at_min))
    }

    /// The fewest bytes a window must bring.
    pub fn min_bytes(&self) -> u64 {
        self.min_speed.saturating_mul(self.window.as_secs().max(1))
    }

    /// The rule in words, for messages: `fewer than 30720 bytes in 30 s`.
    pub fn too_slow(&self) -> String {
        format!(
            "fewer than {} bytes in {} s",
            self.min_bytes(),
            self.window.as_secs().max(1)
        )
    }
}

/// How a transient failure (a refused connection, a broken transfer, a 5xx answer) is retried,
/// by the builder's fetcher and the installer's mirror client alike: at most `retries` more
/// tries, the first after `first_delay`, each next one after twice the pause before it. The
/// pauses are `backon`'s exponential backoff ([`Retry::backoff`]), run as `backon` runs them
/// where a try is one call, and drawn one by one where the loop keeps state of its own (the
/// builder's package download: a transfer that brought bytes starts the pauses over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub retries: u32,
    pub first_delay: Duration,
}

impl Default for Retry {
    /// 3 retries, after 200 ms, 400 ms and 800 ms.
    fn default() -> Retry {
        Retry {
            retries: 3,
            first_delay: Duration::from_millis(200),
        }
    }
}

impl Retry {
    /// The pauses, as `backon`'s exponential backoff (no jitter, no ceiling: with a handful of
    /// retries the pauses stay short).
    pub fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_factor(2.0)
            .without_max_delay()
            .with_max_times(self.retries as usize)
    }

    /// The pauses one by one: `None` once every retry is spent.
    pub fn pauses(&self) -> impl Iterator<Item = Duration> + use<> {
        backon::BackoffBuilder::build(self.backoff())
    }
}

/// A window ended with too few bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too slow")]
pub struct TooSlow;

/// The minimum-speed rule over one transfer: at least [`Limits::min_bytes`] in every window.
#[derive(Debug, Clone)]
pub struct Pace {
    min_bytes: u64,
    window: Duration,
    started: Instant,
    bytes: u64,
}

impl Pace {
    /// A transfer starting at `now`.
    pub fn new(limits: &Limits, now: Instant) -> Pace {
        Pace {
            min_bytes: limits.min_bytes(),
            window: limits.window.max(Duration::from_secs(1)),
            started: now,
            bytes: 0,
        }
    }

    /// How long to wait for the next bytes from `now`: until the current window ends. Nothing
    /// by then is too slow.
    pub fn wait(&self, now: Instant) -> Duration {
        (self.started + self.window).saturating_duration_since(now)
    }

    /// Counts `len` bytes received at `now`: an error when a window ended with too few, else
    /// the next window starts once this one has enough.
    pub fn got(&mut self, len: u64, now: Instant) -> Result<(), TooSlow> {
        self.bytes = self.bytes.saturating_add(len);
        if now >= self.started + self.window {
            if self.bytes < self.min_bytes {
                return Err(TooSlow);
            }
            self.started = now;
            self.bytes = 0;
        } else if self.bytes >= self.min_bytes {
            // Fast enough for this window already.
            self.started = now;
            self.bytes = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            deadline_floor: Duration::from_secs(10),
            min_speed: 100,
            window: Duration::from_secs(5),
        }
    }

    #[test]
    fn retries_pause_twice_as_long_each_time() {
        let r = Retry {
            retries: 3,
            first_delay: Duration::from_millis(100),
        };
        let pauses: Vec<u128> = r.pauses().map(|d| d.as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400]);
        let none = Retry {
            retries: 0,
            ..Retry::default()
        };
        assert_eq!(none.pauses().count(), 0);
    }

    #[test]
    fn deadlines_grow_with_the_size() {
        let l = limits();
        assert_eq!(l.deadline_for(0), Duration::from_secs(10));
        assert_eq!(l.deadline_for(1000), Duration::from_secs(20));
        assert_eq!(l.min_bytes(), 500);
        assert_eq!(l.too_slow(), "fewer than 500 bytes in 5 s");
        // Nothing overflows.
        let huge = Limits {
            deadline_floor: Duration::MAX,
            min_speed: 0,
            window: Duration::ZERO,
        };
        assert_eq!(huge.deadline_for(u64::MAX), Duration::MAX);
        assert_eq!(huge.min_bytes(), 0);
    }

    #[test]
    fn a_trickle_fails_and_a_steady_stream_does_not() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // One byte a second: the first window ends with 5 bytes of the 500 needed.
        let mut p = Pace::new(&limits(), t0);
        for s in 1..5 {
            assert!(p.got(1, at(s)).is_ok());
        }
        assert!(p.got(1, at(5)).is_err());
        // Nothing at all: the wait ends with the window.
        let p = Pace::new(&limits(), t0);
        assert_eq!(p.wait(at(2)), Duration::from_secs(3));
        assert_eq!(p.wait(at(9)), Duration::ZERO);
        // 200 bytes a second for a minute: every window has enough.
        let mut p = Pace::new(&limits(), t0);
        for s in 1..60 {
            assert!(p.got(200, at(s)).is_ok(), "second {s}");
            assert!(p.wait(at(s)) > Duration::ZERO);
        }
    }
}
