//! The live-update throttle: at most one update per interval for each viewer, always carrying
//! the newest value of every key that changed. The caller passes the clock in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Coalesces a stream of keyed values into throttled updates.
///
/// A value arriving after a quiet interval is due at once; during a burst the next update is
/// due one interval after the previous one and holds the newest value of each changed key.
#[derive(Debug)]
pub struct Coalescer<K, V> {
    interval: Duration,
    last_emit: Option<Instant>,
    pending: BTreeMap<K, V>,
}

impl<K: Ord, V> Coalescer<K, V> {
    pub fn new(interval: Duration) -> Self {
        Coalescer {
            interval,
            last_emit: None,
            pending: BTreeMap::new(),
        }
    }

    /// Records a value, replacing any older pending value for the same key.
    pub fn push(&mut self, key: K, value: V) {
        self.pending.insert(key, value);
    }

    /// Whether an update is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        !self.pending.is_empty()
            && self
                .last_emit
                .is_none_or(|last| now >= last + self.interval)
    }

    /// Takes the pending update if it is due at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<(K, V)>> {
        if !self.is_due(now) {
            return None;
        }
        self.last_emit = Some(now);
        Some(std::mem::take(&mut self.pending).into_iter().collect())
    }

    /// How long from `now` until the pending update is due (zero if due already).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        if self.pending.is_empty() {
            return None;
        }
        Some(match self.last_emit {
            Some(last) => (last + self.interval).saturating_duration_since(now),
            None => Duration::ZERO,
        })
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_value_goes_out_at_once() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(500));
        assert_eq!(c.poll(t0), None);
        c.push("a", 1);
        assert_eq!(c.wait(t0), Some(Duration::ZERO));
        assert_eq!(c.poll(t0), Some(vec![("a", 1)]));
        assert_eq!(c.poll(t0 + ms(1)), None, "nothing pending");
    }

    #[test]
    fn burst_is_throttled_and_keeps_newest() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(500));
        c.push("a", 1);
        assert!(c.poll(t0).is_some());
        for i in 0..100 {
            c.push("a", 10 + i);
            c.push("b", 1000 + i);
            let now = t0 + ms(4 * i as u64 + 1);
            assert_eq!(c.poll(now), None, "within the interval at {i}");
        }
        assert_eq!(c.wait(t0 + ms(400)), Some(ms(100)));
        assert_eq!(c.poll(t0 + ms(499)), None);
        assert_eq!(c.poll(t0 + ms(500)), Some(vec![("a", 109), ("b", 1099)]));
        c.push("a", 7);
        assert_eq!(c.poll(t0 + ms(999)), None);
        assert_eq!(c.poll(t0 + ms(1000)), Some(vec![("a", 7)]));
    }

    #[test]
    fn quiet_interval_resets() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(500));
        c.push("a", 1);
        c.poll(t0);
        c.push("a", 2);
        assert_eq!(
            c.poll(t0 + ms(2000)),
            Some(vec![("a", 2)]),
            "late poll sends at once"
        );
        c.push("a", 3);
        assert_eq!(
            c.poll(t0 + ms(2499)),
            None,
            "interval counts from the last emission"
        );
        assert_eq!(c.poll(t0 + ms(2500)), Some(vec![("a", 3)]));
        assert_eq!(c.pending_len(), 0);
    }
}
