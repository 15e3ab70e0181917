//! One rule over one series: ok → pending → firing → ok, driven by the readings' measured time,
//! and whether a change is told to anyone. Changes are returned as values.

use std::collections::VecDeque;

use super::rule::{Condition, Rule};
use crate::{Millis, MINUTE};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    /// The condition holds, not yet for the rule's `for`.
    Pending,
    Firing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Ok, State::Pending, State::Firing]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A reading measured longer ago than this when it is evaluated is a backlog: its changes are
/// recorded but told to no one, since they may no longer hold.
pub const CURRENT: Millis = 2 * MINUTE;

/// A change of one track, or a notice due without one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub from: State,
    pub to: State,
    /// When it happened: the reading's measured time (the host clock's for offline).
    pub at: Millis,
    /// Since when the new state's condition holds (for firing: since it began, pending
    /// included).
    pub since: Millis,
    /// The value that made it (the spread to the dew point for near_dew_point; none for
    /// offline).
    pub value: Option<f64>,
    /// Whether it is told (a webhook, a desktop notification): a firing or resolved state
    /// reached by a current reading. When `from == to`, a backlog's firing is told late,
    /// because a current reading shows it still holds.
    pub notify: bool,
}

impl Change {
    /// Whether the history keeps it: an alert fired or resolved.
    pub fn recorded(&self) -> bool {
        self.from != self.to && (self.to == State::Firing || self.from == State::Firing)
    }
}

/// One rule's state over one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub state: State,
    /// Since when the state's condition holds (ok: since it cleared).
    pub since: Millis,
    /// The value at the last change.
    pub value: Option<f64>,
    /// Whether the last notice told of a firing alert (so the next one tells it resolved).
    pub told_firing: bool,
    /// The newest measured time taken: older readings arrive out of order and are left out.
    newest: Option<Millis>,
    /// Rising/falling: the readings within the window.
    window: VecDeque<(Millis, f64)>,
}

impl Default for Track {
    fn default() -> Self {
        Track::restored(State::Ok, 0, None, false)
    }
}

impl Track {
    /// A track as it was stored.
    pub fn restored(state: State, since: Millis, value: Option<f64>, told_firing: bool) -> Track {
        Track {
            state,
            since,
            value,
            told_firing,
            newest: None,
            window: VecDeque::new(),
        }
    }

    /// Takes one reading of the series at measured time `at`, evaluated at `now`.
    pub fn observe(&mut self, rule: &Rule, at: Millis, value: f64, now: Millis) -> Vec<Change> {
        if self.newest.is_some_and(|n| at <= n) {
            return Vec::new();
        }
        self.newest = Some(at);
        // Whether the condition holds, and what is compared with the line to clear it (the
        // clearance is only asked while firing: it looks up the metric's display step).
        let (on, measure) = match rule.condition {
            Condition::Above => {
                let t = rule.threshold.unwrap_or(0.0);
                (value > t, value)
            }
            Condition::Below | Condition::NearDewPoint => {
                let t = rule.threshold.unwrap_or(0.0);
                let on = match rule.condition {
                    Condition::Below => value < t,
                    _ => value <= t,
                };
                (on, value)
            }
            Condition::Rising | Condition::Falling => {
                let span = rule.window.unwrap_or(0);
                self.window.push_back((at, value));
                while self.window.front().is_some_and(|&(t, _)| t < at - span) {
                    self.window.pop_front();
                }
                let change = if rule.condition == Condition::Rising {
                    value
                        - self
                            .window
                            .iter()
                            .map(|w| w.1)
                            .fold(f64::INFINITY, f64::min)
                } else {
                    self.window
                        .iter()
                        .map(|w| w.1)
                        .fold(f64::NEG_INFINITY, f64::max)
                        - value
                };
                let amount = rule.amount.unwrap_or(0.0);
                (change > amount, change)
            }
            Condition::Offline => return Vec::new(),
        };
        if !on && self.state == State::Ok && !self.told_firing {
            // The common case: nothing holds and nothing is left to tell.
            return Vec::new();
        }
        let off = self.state == State::Firing && {
            let h = rule.clearance();
            let line = rule.threshold.unwrap_or(0.0);
            match rule.condition {
                Condition::Above => measure <= line - h,
                Condition::Below | Condition::NearDewPoint => measure >= line + h,
                _ => measure <= rule.amount.unwrap_or(0.0) - h,
            }
        };
        let mut out = Vec::new();
        let hold = rule.hold.unwrap_or(0);
        match self.state {
            State::Ok if on => {
                let to = if hold == 0 {
                    State::Firing
                } else {
                    State::Pending
                };
                out.push(self.go(to, at, at, Some(value)));
            }
            State::Pending if !on => out.push(self.go(State::Ok, at, at, Some(value))),
            State::Pending if at - self.since >= hold => {
                let since = self.since;
                out.push(self.go(State::Firing, at, since, Some(value)));
            }
            State::Firing if off => out.push(self.go(State::Ok, at, at, Some(value))),
            _ => {}
        }
        self.tell(at, now, Some(value), &mut out);
        out
    }

    /// Offline rules: the sensor was last heard from at `heard`; it counts as offline once
    /// `now - heard` passes `limit`. Host clock throughout.
    pub fn check_silence(&mut self, heard: Millis, limit: Millis, now: Millis) -> Vec<Change> {
        let mut out = Vec::new();
        if self.state != State::Firing && now - heard > limit {
            out.push(self.go(State::Firing, now, heard, None));
            self.tell(now, now, None, &mut out);
        }
        out
    }

    /// Offline rules: the sensor was heard from at `now`.
    pub fn heard(&mut self, now: Millis) -> Vec<Change> {
        let mut out = Vec::new();
        if self.state != State::Ok {
            out.push(self.go(State::Ok, now, now, None));
            self.tell(now, now, None, &mut out);
        }
        out
    }

    fn go(&mut self, to: State, at: Millis, since: Millis, value: Option<f64>) -> Change {
        let from = self.state;
        self.state = to;
        self.since = since;
        self.value = value;
        Change {
            from,
            to,
            at,
            since,
            value,
            notify: false,
        }
    }

    /// Tells what a current reading shows, once: firing when it fires and was not told, resolved
    /// when it no longer fires and firing was told.
    fn tell(&mut self, at: Millis, now: Millis, value: Option<f64>, out: &mut Vec<Change>) {
        if now - at > CURRENT {
            return;
        }
        let firing = self.state == State::Firing;
        if firing == self.told_firing {
            return;
        }
        self.told_firing = firing;
        match out.last_mut() {
            Some(c) if c.to == self.state && c.recorded() => c.notify = true,
            _ => out.push(Change {
                from: self.state,
                to: self.state,
                at,
                since: self.since,
                value,
                notify: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::presets;
    use crate::{HOUR, SECOND};

    fn above(threshold: f64, hold: Millis) -> Rule {
        Rule {
            sensor: "*".into(),
            metric: "humidity".into(),
            condition: Condition::Above,
            threshold: Some(threshold),
            hold: Some(hold),
            window: None,
            amount: None,
            hysteresis: None,
            enabled: true,
            label: None,
        }
    }

    /// Feeds `(at, value)` readings, each evaluated at `now` = its time plus `delay`, and
    /// returns every change as `(at, from, to, notify)`.
    fn run(
        rule: &Rule,
        track: &mut Track,
        readings: &[(Millis, f64)],
        delay: Millis,
    ) -> Vec<(Millis, State, State, bool)> {
        readings
            .iter()
            .flat_map(|&(at, v)| track.observe(rule, at, v, at + delay))
            .map(|c| (c.at, c.from, c.to, c.notify))
            .collect()
    }

    use State::*;

    #[test]
    fn fires_once_held_for_the_duration_to_the_millisecond() {
        let rule = above(70.0, 5 * SECOND);
        let mut t = Track::default();
        let got = run(
            &rule,
            &mut t,
            &[
                (0, 69.0),
                (1_000, 71.0),
                (5_999, 72.0),
                (6_000, 72.0),
                (7_000, 73.0),
            ],
            0,
        );
        assert_eq!(
            got,
            [(1_000, Ok, Pending, false), (6_000, Pending, Firing, true)]
        );
        assert_eq!(t.since, 1_000, "firing since the condition began");
    }

    #[test]
    fn one_reading_below_breaks_the_for_window() {
        let rule = above(70.0, 5 * SECOND);
        let mut t = Track::default();
        let got = run(
            &rule,
            &mut t,
            &[
                (0, 71.0),
                (3_000, 70.0),
                (4_000, 71.0),
                (8_999, 71.0),
                (9_000, 71.0),
            ],
            0,
        );
        assert_eq!(
            got,
            [
                (0, Ok, Pending, false),
                (3_000, Pending, Ok, false),
                (4_000, Ok, Pending, false),
                (9_000, Pending, Firing, true)
            ]
        );
    }

    #[test]
    fn hysteresis_keeps_a_wobbling_value_firing() {
        // 70 % clears at 68.6 % (2 % of 70).
        let rule = above(70.0, 0);
        let mut t = Track::default();
        let got = run(
            &rule,
            &mut t,
            &[
                (0, 70.5),
                (1, 69.9),
                (2, 70.1),
                (3, 68.7),
                (4, 70.2),
                (5, 68.6),
                (6, 69.5),
            ],
            0,
        );
        assert_eq!(got, [(0, Ok, Firing, true), (5, Firing, Ok, true)]);
        // At the line itself is not above it.
        let mut t = Track::default();
        assert!(run(&rule, &mut t, &[(0, 70.0)], 0).is_empty());
    }

    #[test]
    fn below_clears_above_the_threshold_plus_the_margin() {
        let rule = Rule {
            condition: Condition::Below,
            metric: "temperature".into(),
            ..above(3.0, 0)
        };
        let mut t = Track::default();
        let got = run(&rule, &mut t, &[(0, 2.9), (1, 3.05), (2, 3.1)], 0);
        assert_eq!(got, [(0, Ok, Firing, true), (2, Firing, Ok, true)]);
    }

    #[test]
    fn out_of_order_readings_are_left_out() {
        let rule = above(70.0, 5 * SECOND);
        let mut t = Track::default();
        // A late reading from before the window neither breaks nor restarts it, and a resend
        // of the same time changes nothing.
        let got = run(
            &rule,
            &mut t,
            &[
                (10_000, 71.0),
                (9_000, 60.0),
                (12_000, 71.0),
                (12_000, 10.0),
                (15_000, 71.0),
            ],
            0,
        );
        assert_eq!(
            got,
            [
                (10_000, Ok, Pending, false),
                (15_000, Pending, Firing, true)
            ]
        );
    }

    #[test]
    fn a_resent_backlog_is_recorded_and_only_what_holds_now_is_told() {
        let rule = above(70.0, HOUR);
        let mut t = Track::default();
        let now = 10 * HOUR;
        // Fired and resolved during an outage: both recorded, neither told.
        let backlog: Vec<_> = [(0, 71.0), (HOUR, 72.0), (2 * HOUR, 60.0)]
            .iter()
            .flat_map(|&(at, v)| t.observe(&rule, at, v, now))
            .collect();
        let seen: Vec<_> = backlog
            .iter()
            .map(|c| (c.from, c.to, c.recorded(), c.notify))
            .collect();
        assert_eq!(
            seen,
            [
                (Ok, Pending, false, false),
                (Pending, Firing, true, false),
                (Firing, Ok, true, false)
            ]
        );
        // Fired during the outage and still firing now: told once, by the current reading.
        let mut t = Track::default();
        for (at, v) in [(0, 71.0), (HOUR, 72.0)] {
            assert!(t.observe(&rule, at, v, now).iter().all(|c| !c.notify));
        }
        let told = t.observe(&rule, now - SECOND, 73.0, now);
        assert_eq!(told.len(), 1);
        assert_eq!(
            (told[0].from, told[0].to, told[0].notify, told[0].recorded()),
            (Firing, Firing, true, false)
        );
        assert_eq!(told[0].since, 0);
        assert!(t.observe(&rule, now, 74.0, now).is_empty(), "told once");
    }

    #[test]
    fn the_current_limit_is_exact() {
        let rule = above(70.0, 0);
        let mut t = Track::default();
        assert_eq!(
            run(&rule, &mut t, &[(0, 71.0)], CURRENT),
            [(0, Ok, Firing, true)]
        );
        let mut t = Track::default();
        assert_eq!(
            run(&rule, &mut t, &[(0, 71.0)], CURRENT + 1),
            [(0, Ok, Firing, false)]
        );
    }

    #[test]
    fn rising_and_falling_by_an_amount_within_the_window() {
        let rule = Rule {
            condition: Condition::Falling,
            metric: "temperature".into(),
            threshold: None,
            amount: Some(3.0),
            window: Some(10 * 60 * SECOND),
            ..above(0.0, 0)
        };
        let mut t = Track::default();
        let m = 60 * SECOND;
        // 21 -> 18 is 3, not more; 17.9 within 10 minutes of 21 fires. 18.05 is 2.95 below the
        // 21 at 1m, within the 0.1 margin, so it stays firing; 1 ms later that 21 has left the
        // window and the drop is gone.
        let got = run(
            &rule,
            &mut t,
            &[
                (0, 21.0),
                (m, 21.0),
                (5 * m, 18.0),
                (6 * m, 17.9),
                (11 * m, 18.05),
                (11 * m + 1, 18.05),
                (12 * m, 20.0),
            ],
            0,
        );
        assert_eq!(
            got,
            [(6 * m, Ok, Firing, true), (11 * m + 1, Firing, Ok, true)]
        );
    }

    #[test]
    fn offline_by_timer() {
        let mut t = Track::default();
        let limit = 30 * SECOND;
        assert!(t.check_silence(0, limit, 30_000).is_empty());
        let fired = t.check_silence(0, limit, 30_001);
        assert_eq!(
            fired
                .iter()
                .map(|c| (c.to, c.since, c.notify))
                .collect::<Vec<_>>(),
            [(Firing, 0, true)]
        );
        assert!(t.check_silence(0, limit, 60_000).is_empty(), "once");
        let back = t.heard(61_000);
        assert_eq!(
            back.iter()
                .map(|c| (c.from, c.to, c.notify))
                .collect::<Vec<_>>(),
            [(Firing, Ok, true)]
        );
        assert!(t.heard(62_000).is_empty());
    }

    #[test]
    fn a_restored_firing_track_is_not_told_again() {
        let rule = presets()[0].rule.clone();
        let mut t = Track::restored(Firing, 0, Some(75.0), true);
        assert!(t.observe(&rule, 7 * HOUR, 76.0, 7 * HOUR).is_empty());
        let got = t.observe(&rule, 8 * HOUR, 60.0, 8 * HOUR);
        assert_eq!(
            got.iter()
                .map(|c| (c.from, c.to, c.notify))
                .collect::<Vec<_>>(),
            [(Firing, Ok, true)]
        );
    }
}
