//! Every enabled rule over every series: takes each committed reading and the timer's ticks,
//! keeps one [`Track`] per (rule, series), learns each sensor's usual interval for offline
//! rules, pairs temperature with dew point for condensation, and returns what changed.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};

use super::rule::{Condition, Rule};
use super::state::{Change, State, Track};
use crate::Millis;

/// One (rule, series); offline rules watch a sensor and have an empty metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackKey {
    pub rule_id: i64,
    pub sensor: String,
    pub metric: String,
}

/// A track's change, with its state after it (to be stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub key: TrackKey,
    pub change: Change,
    /// Whether firing has been told, after the change.
    pub told_firing: bool,
}

/// What is known of a sensor's timing: when it was last heard (host clock) and the gaps
/// between its recent measured times.
#[derive(Debug, Default)]
struct Heard {
    at: Millis,
    measured: Option<Millis>,
    gaps: VecDeque<Millis>,
}

/// Gaps kept per sensor for its usual interval.
const GAPS: usize = 9;

impl Heard {
    /// The median of the recent gaps, once there are three.
    fn usual(&self) -> Option<Millis> {
        if self.gaps.len() < 3 {
            return None;
        }
        let mut g: Vec<Millis> = self.gaps.iter().copied().collect();
        g.sort_unstable();
        Some(g[g.len() / 2])
    }
}

/// A sensor's newest temperature and dew point, each with its measured time.
#[derive(Debug, Default)]
struct Dew {
    temperature: Option<(Millis, f64)>,
    dew_point: Option<(Millis, f64)>,
}

/// Every track of one series, by rule id.
type Tracks = Vec<(i64, Track)>;

/// Rules (indices) of one metric: by the sensor they name, and those for every sensor.
#[derive(Debug, Default)]
struct BySensor {
    named: HashMap<String, Vec<usize>>,
    every: Vec<usize>,
}

impl BySensor {
    fn add(&mut self, sensor: &str, i: usize) {
        if sensor == "*" {
            self.every.push(i);
        } else {
            self.named.entry(sensor.to_owned()).or_default().push(i);
        }
    }

    fn covering<'a>(&'a self, sensor: &str) -> impl Iterator<Item = usize> + 'a {
        let named = self
            .named
            .get(sensor)
            .map(Vec::as_slice)
            .unwrap_or_default();
        named.iter().chain(&self.every).copied()
    }
}

/// The evaluation of every rule; fed in commit order, with the clock passed in.
#[derive(Debug, Default)]
pub struct Evaluator {
    rules: Vec<(i64, Rule)>,
    /// Enabled rules by the metric they watch (near_dew_point under both `temperature` and
    /// `dew_point`), then by sensor, `*` apart: a reading meets only the rules that cover it.
    by_metric: HashMap<String, BySensor>,
    offline: Vec<usize>,
    tracks: HashMap<String, HashMap<String, Tracks>>,
    heard: HashMap<String, Heard>,
    dew: HashMap<String, Dew>,
}

impl Evaluator {
    /// Starts from the stored rules, the stored tracks that are not ok, and when each sensor was
    /// last heard from.
    pub fn new(
        rules: Vec<(i64, Rule)>,
        saved: Vec<(TrackKey, Track)>,
        heard: Vec<(String, Millis)>,
    ) -> Evaluator {
        let mut e = Evaluator::default();
        e.set_rules(rules);
        for (key, track) in saved {
            if e.rules
                .iter()
                .any(|(id, r)| *id == key.rule_id && r.enabled)
            {
                *e.track(&key.sensor, &key.metric, key.rule_id) = track;
            }
        }
        for (sensor, at) in heard {
            e.heard.entry(sensor).or_default().at = at;
        }
        e
    }

    /// Replaces the rules. Tracks of rules that changed, were disabled or removed are dropped:
    /// a changed rule starts over from ok.
    pub fn set_rules(&mut self, rules: Vec<(i64, Rule)>) {
        let kept: Vec<i64> = rules
            .iter()
            .filter(|(id, r)| r.enabled && self.rules.iter().any(|(i, old)| i == id && old == r))
            .map(|(id, _)| *id)
            .collect();
        for metrics in self.tracks.values_mut() {
            for tracks in metrics.values_mut() {
                tracks.retain(|(id, _)| kept.contains(id));
            }
        }
        self.by_metric.clear();
        self.offline.clear();
        for (i, (_, r)) in rules.iter().enumerate() {
            if !r.enabled {
                continue;
            }
            match r.condition {
                Condition::Offline => self.offline.push(i),
                Condition::NearDewPoint => {
                    for m in ["temperature", "dew_point"] {
                        self.by_metric
                            .entry(m.to_owned())
                            .or_default()
                            .add(&r.sensor, i);
                    }
                }
                _ => self
                    .by_metric
                    .entry(r.metric.clone())
                    .or_default()
                    .add(&r.sensor, i),
            }
        }
        self.rules = rules;
    }

    pub fn rules(&self) -> &[(i64, Rule)] {
        &self.rules
    }

    fn track(&mut self, sensor: &str, metric: &str, rule_id: i64) -> &mut Track {
        track_in(&mut self.tracks, sensor, metric, rule_id)
    }

    /// Takes one committed reading of `sensor`'s `metric`, measured at `at`, evaluated at `now`
    /// (host clock); appends what changed to `out`.
    pub fn observe(
        &mut self,
        sensor: &str,
        metric: &str,
        at: Millis,
        value: f64,
        now: Millis,
        out: &mut Vec<Update>,
    ) {
        self.hear(sensor, at, now, out);
        let Some(rules) = self.by_metric.get(metric) else {
            return;
        };
        for i in rules.covering(sensor) {
            let (id, rule) = (self.rules[i].0, &self.rules[i].1);
            let (metric, value) = if rule.condition == Condition::NearDewPoint {
                let dew = match self.dew.get_mut(sensor) {
                    Some(d) => d,
                    None => self.dew.entry(sensor.to_owned()).or_default(),
                };
                if metric == "temperature" {
                    dew.temperature = Some((at, value));
                } else {
                    dew.dew_point = Some((at, value));
                }
                match (dew.temperature, dew.dew_point) {
                    (Some((ta, t)), Some((da, d))) if ta == da && ta == at => {
                        ("temperature", t - d)
                    }
                    _ => continue,
                }
            } else {
                (metric, value)
            };
            let track = track_in(&mut self.tracks, sensor, metric, id);
            let changes = track.observe(rule, at, value, now);
            let told = track.told_firing;
            push(out, id, sensor, metric, changes, told);
        }
    }

    /// Notes that `sensor` was heard from; resolves its offline alerts.
    fn hear(&mut self, sensor: &str, at: Millis, now: Millis, out: &mut Vec<Update>) {
        let heard = match self.heard.get_mut(sensor) {
            Some(h) => h,
            None => self.heard.entry(sensor.to_owned()).or_default(),
        };
        heard.at = heard.at.max(now);
        match heard.measured {
            Some(m) if at > m => {
                if heard.gaps.len() == GAPS {
                    heard.gaps.pop_front();
                }
                heard.gaps.push_back(at - m);
                heard.measured = Some(at);
            }
            None => heard.measured = Some(at),
            _ => {}
        }
        if self.offline.is_empty() {
            return;
        }
        let Some(tracks) = self.tracks.get_mut(sensor).and_then(|m| m.get_mut("")) else {
            return;
        };
        for (id, track) in tracks.iter_mut() {
            let changes = track.heard(now);
            let told = track.told_firing;
            push(out, *id, sensor, "", changes, told);
        }
    }

    /// The timer: fires offline rules for sensors silent past their limit (the rule's `for`, or
    /// three times the sensor's usual interval once it is known).
    pub fn tick(&mut self, now: Millis, out: &mut Vec<Update>) {
        let mut due = Vec::new();
        for &i in &self.offline {
            let (id, rule) = &self.rules[i];
            for (sensor, heard) in &self.heard {
                if !rule.covers(sensor) {
                    continue;
                }
                if let Some(limit) = rule.hold.or_else(|| heard.usual().map(|u| 3 * u)) {
                    due.push((*id, sensor.clone(), heard.at, limit));
                }
            }
        }
        for (id, sensor, heard, limit) in due {
            let track = self.track(&sensor, "", id);
            let changes = track.check_silence(heard, limit, now);
            let told = track.told_firing;
            push(out, id, &sensor, "", changes, told);
        }
    }

    /// Every track that is not ok, for the API's list of active alerts.
    pub fn active(&self) -> Vec<(TrackKey, &Track)> {
        let mut all = Vec::new();
        for (sensor, metrics) in &self.tracks {
            for (metric, tracks) in metrics {
                for (id, t) in tracks {
                    if t.state != State::Ok {
                        all.push((
                            TrackKey {
                                rule_id: *id,
                                sensor: sensor.clone(),
                                metric: metric.clone(),
                            },
                            t,
                        ));
                    }
                }
            }
        }
        all
    }
}

/// The track of `rule_id` over (`sensor`, `metric`), made on first use; names are copied only
/// then.
fn track_in<'a>(
    tracks: &'a mut HashMap<String, HashMap<String, Tracks>>,
    sensor: &str,
    metric: &str,
    rule_id: i64,
) -> &'a mut Track {
    if !tracks.contains_key(sensor) {
        tracks.insert(sensor.to_owned(), HashMap::new());
    }
    let by_metric = tracks.get_mut(sensor).expect("inserted above");
    if !by_metric.contains_key(metric) {
        by_metric.insert(metric.to_owned(), Vec::new());
    }
    let list = by_metric.get_mut(metric).expect("inserted above");
    let at = match list.iter().position(|(id, _)| *id == rule_id) {
        Some(at) => at,
        None => {
            list.push((rule_id, Track::default()));
            list.len() - 1
        }
    };
    &mut list[at].1
}

fn push(
    out: &mut Vec<Update>,
    rule_id: i64,
    sensor: &str,
    metric: &str,
    changes: Vec<Change>,
    told_firing: bool,
) {
    for change in changes {
        out.push(Update {
            key: TrackKey {
                rule_id,
                sensor: sensor.to_owned(),
                metric: metric.to_owned(),
            },
            change,
            told_firing,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::presets;
    use crate::{MINUTE, SECOND};
    use serde_json::json;

    fn rule(v: serde_json::Value) -> Rule {
        Rule::from_json(&v).unwrap()
    }

    fn seen(out: &[Update]) -> Vec<(i64, &str, &str, State, bool)> {
        out.iter()
            .map(|u| {
                (
                    u.key.rule_id,
                    u.key.sensor.as_str(),
                    u.key.metric.as_str(),
                    u.change.to,
                    u.change.notify,
                )
            })
            .collect()
    }

    #[test]
    fn a_star_rule_keeps_one_track_per_series() {
        let mut e = Evaluator::new(
            vec![(
                1,
                rule(json!({"sensor":"*","metric":"co2","condition":"above","threshold":1000})),
            )],
            vec![],
            vec![],
        );
        let mut out = Vec::new();
        e.observe("a", "co2", 0, 1200.0, 0, &mut out);
        e.observe("b", "co2", 0, 900.0, 0, &mut out);
        e.observe("b", "temperature", 1, 1200.0, 1, &mut out);
        e.observe("b", "co2", 1, 1100.0, 1, &mut out);
        assert_eq!(
            seen(&out),
            [
                (1, "a", "co2", State::Firing, true),
                (1, "b", "co2", State::Firing, true)
            ]
        );
        assert_eq!(e.active().len(), 2);
    }

    #[test]
    fn a_named_rule_watches_its_sensor_only() {
        let mut e = Evaluator::new(
            vec![
                (
                    1,
                    rule(json!({"sensor":"a","metric":"co2","condition":"above","threshold":1000})),
                ),
                (
                    2,
                    rule(json!({"sensor":"b","metric":"co2","condition":"below","threshold":400})),
                ),
                (
                    3,
                    rule(
                        json!({"sensor":"*","metric":"co2","condition":"above","threshold":1000,"enabled":false}),
                    ),
                ),
            ],
            vec![],
            vec![],
        );
        let mut out = Vec::new();
        e.observe("b", "co2", 0, 1200.0, 0, &mut out);
        e.observe("a", "co2", 0, 300.0, 0, &mut out);
        e.observe("c", "co2", 0, 1200.0, 0, &mut out);
        assert!(out.is_empty(), "{out:?}");
        e.observe("a", "co2", 1, 1200.0, 1, &mut out);
        e.observe("b", "co2", 1, 300.0, 1, &mut out);
        assert_eq!(
            seen(&out),
            [
                (1, "a", "co2", State::Firing, true),
                (2, "b", "co2", State::Firing, true)
            ]
        );
    }

    #[test]
    fn condensation_pairs_temperature_with_the_dew_point_of_the_same_time() {
        let mut e = Evaluator::new(vec![(7, presets()[1].rule.clone())], vec![], vec![]);
        let mut out = Vec::new();
        e.observe("bath", "temperature", 0, 20.0, 0, &mut out);
        e.observe("bath", "dew_point", 0, 15.0, 0, &mut out);
        e.observe("bath", "temperature", 1_000, 18.0, 1_000, &mut out);
        // A dew point of another time does not pair.
        e.observe("bath", "dew_point", 900, 17.5, 1_000, &mut out);
        assert!(out.is_empty());
        e.observe("bath", "dew_point", 1_000, 17.0, 1_000, &mut out);
        assert_eq!(
            seen(&out),
            [(7, "bath", "temperature", State::Firing, true)]
        );
        assert_eq!(out[0].change.value, Some(1.0));
    }

    #[test]
    fn offline_after_its_duration_or_three_usual_intervals() {
        let mut e = Evaluator::new(
            vec![
                (
                    1,
                    rule(json!({"sensor":"*","condition":"offline","for":"1m"})),
                ),
                (2, rule(json!({"sensor":"*","condition":"offline"}))),
            ],
            vec![],
            vec![("old".into(), 0)],
        );
        let mut out = Vec::new();
        for i in 0..4 {
            e.observe(
                "new",
                "co2",
                i * 10 * SECOND,
                500.0,
                i * 10 * SECOND,
                &mut out,
            );
        }
        // "old" was heard at 0 s, "new" last at 30 s and every 10 s: at 1 min neither is past
        // its limit (1 min; three times 10 s), a millisecond later both are.
        e.tick(MINUTE, &mut out);
        assert!(out.is_empty(), "{out:?}");
        e.tick(MINUTE + 1, &mut out);
        let mut got = seen(&out);
        got.sort_by_key(|g| g.0);
        assert_eq!(
            got,
            [
                (1, "old", "", State::Firing, true),
                (2, "new", "", State::Firing, true)
            ]
        );
        out.clear();
        e.observe("old", "co2", 2 * MINUTE, 1.0, 2 * MINUTE, &mut out);
        assert_eq!(seen(&out), [(1, "old", "", State::Ok, true)]);
    }

    #[test]
    fn a_changed_rule_starts_over_and_a_restored_one_goes_on() {
        let r = rule(json!({"sensor":"*","metric":"co2","condition":"above","threshold":1000}));
        let key = TrackKey {
            rule_id: 1,
            sensor: "a".into(),
            metric: "co2".into(),
        };
        let mut e = Evaluator::new(
            vec![(1, r.clone())],
            vec![(key, Track::restored(State::Firing, 0, Some(1200.0), true))],
            vec![],
        );
        let mut out = Vec::new();
        e.observe("a", "co2", 10, 1300.0, 10, &mut out);
        assert!(out.is_empty(), "firing already told: {out:?}");
        let mut changed = r.clone();
        changed.threshold = Some(2000.0);
        e.set_rules(vec![(1, changed)]);
        assert!(e.active().is_empty());
    }
}
