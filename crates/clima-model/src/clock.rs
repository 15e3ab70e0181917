//! The two clocks of a sensor: when its device says a value was measured and when Clima received
//! it, watched per sensor so that a backlog or a device clock that runs ahead or behind shows.

use crate::{Millis, MINUTE};

/// How far the two clocks may disagree before the dashboard says so.
pub const SKEW_TOLERANCE: Millis = MINUTE;

/// A sensor's last observed pair of clocks: the newest measurement of its latest receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Clock {
    /// The device's time of the newest value in the sensor's latest receipt.
    pub measured_at: Millis,
    /// When Clima received it (this computer's clock).
    pub received_at: Millis,
    /// `received_at - measured_at`: positive when the device clock is behind or the values are a
    /// backlog, negative when the device clock is ahead.
    pub skew_ms: Millis,
    /// The latest receipt held values measured at more than one time (a device resending what it
    /// buffered), so a positive skew is a backlog rather than a slow clock.
    pub backlog: bool,
    /// What the disagreement means; `None` within [`SKEW_TOLERANCE`].
    pub skew: Option<Skew>,
}

impl Clock {
    pub fn new(measured_at: Millis, received_at: Millis, backlog: bool) -> Self {
        let skew_ms = received_at - measured_at;
        let skew = if skew_ms.abs() <= SKEW_TOLERANCE {
            None
        } else if skew_ms < 0 {
            Some(Skew::Ahead)
        } else if backlog {
            Some(Skew::Backlog)
        } else {
            Some(Skew::Behind)
        };
        Clock {
            measured_at,
            received_at,
            skew_ms,
            backlog,
            skew,
        }
    }
}

/// Why a sensor's two clocks disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Skew {
    /// The device says its values were measured in the future.
    Ahead,
    /// The device sends one value at a time, measured long before it arrives.
    Behind,
    /// The device sent values it had kept, measured at several times before they arrived.
    Backlog,
}

/// Follows one sensor's readings in arrival order and keeps its [`Clock`].
#[derive(Debug, Clone, Default)]
pub struct ClockWatch {
    latest: Option<(Millis, Millis)>,
    times: usize,
}

impl ClockWatch {
    /// Takes a reading measured at `measured_at` (its time of receipt when the device sent
    /// none) and received at `received_at`. Readings of an earlier receipt than the latest seen
    /// are ignored; those of the same receipt add to it.
    pub fn observe(&mut self, measured_at: Millis, received_at: Millis) {
        match self.latest {
            Some((measured, received)) if received == received_at => {
                if measured != measured_at {
                    self.times += 1;
                }
                self.latest = Some((measured.max(measured_at), received));
            }
            Some((_, received)) if received > received_at => {}
            _ => {
                self.latest = Some((measured_at, received_at));
                self.times = 1;
            }
        }
    }

    pub fn clock(&self) -> Option<Clock> {
        self.latest
            .map(|(measured, received)| Clock::new(measured, received, self.times > 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DAY, HOUR, SECOND};

    const NOW: Millis = 1_795_683_600_000;

    /// Feeds `(measured, received)` pairs in order and checks the clock and what it means.
    fn check(
        readings: &[(Millis, Millis)],
        expected: Option<(Millis, Millis, bool)>,
        skew: Option<Skew>,
    ) {
        let mut watch = ClockWatch::default();
        for &(m, r) in readings {
            watch.observe(m, r);
        }
        let clock = watch.clock();
        assert_eq!(
            clock,
            expected.map(|(m, r, b)| Clock::new(m, r, b)),
            "{readings:?}"
        );
        assert_eq!(clock.and_then(|c| c.skew), skew, "{readings:?}");
    }

    #[test]
    fn in_step_ahead_behind_and_backlog() {
        check(&[], None, None);
        // A device without a clock, or one in step within a minute.
        check(&[(NOW, NOW)], Some((NOW, NOW, false)), None);
        check(
            &[(NOW - 59 * SECOND, NOW)],
            Some((NOW - 59 * SECOND, NOW, false)),
            None,
        );
        check(
            &[(NOW + 60 * SECOND, NOW)],
            Some((NOW + 60 * SECOND, NOW, false)),
            None,
        );
        // A clock half an hour ahead, and one three hours behind, one reading per receipt.
        check(
            &[(NOW + HOUR / 2, NOW)],
            Some((NOW + HOUR / 2, NOW, false)),
            Some(Skew::Ahead),
        );
        check(
            &[
                (NOW - 3 * HOUR - 10 * SECOND, NOW - 10 * SECOND),
                (NOW - 3 * HOUR, NOW),
            ],
            Some((NOW - 3 * HOUR, NOW, false)),
            Some(Skew::Behind),
        );
        // Yesterday's values sent in one request: a backlog, dated by its newest value.
        let backlog: Vec<_> = (0..5).map(|i| (NOW - DAY + i * MINUTE, NOW)).collect();
        check(
            &backlog,
            Some((NOW - DAY + 4 * MINUTE, NOW, true)),
            Some(Skew::Backlog),
        );
        // A backlog that reaches the present is no disagreement.
        let caught_up: Vec<_> = (0..5)
            .map(|i| (NOW - 4 * MINUTE + i * MINUTE, NOW))
            .collect();
        check(&caught_up, Some((NOW, NOW, true)), None);
        // The latest receipt decides: a live reading after a backlog, and a resent old receipt.
        check(
            &[
                (NOW - DAY, NOW - SECOND),
                (NOW - DAY + MINUTE, NOW - SECOND),
                (NOW, NOW),
            ],
            Some((NOW, NOW, false)),
            None,
        );
        check(
            &[(NOW, NOW), (NOW - DAY, NOW - SECOND)],
            Some((NOW, NOW, false)),
            None,
        );
        // Two metrics of one reading are one time, not a backlog.
        check(
            &[(NOW - HOUR, NOW), (NOW - HOUR, NOW)],
            Some((NOW - HOUR, NOW, false)),
            Some(Skew::Behind),
        );
    }
}
