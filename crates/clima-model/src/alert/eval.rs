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

/// What is known of a sensor's timing: when it was last heard (host clock), the gaps between
/// its recent measured times, and its usual interval as last kept in the store.
#[derive(Debug, Default)]
struct Heard {
    at: Millis,
    measured: Option<Millis>,
    gaps: VecDeque<Millis>,
    kept: Option<Millis>,
}

/// Gaps kept per sensor for its usual interval.
const GAPS: usize = 9;

impl Heard {
    /// The median of the recent gaps, once there are three; until then the interval kept from
    /// before a restart.
    fn usual(&self) -> Option<Millis> {
        self.learned().or(self.kept)
    }

    /// The median of the recent gaps, once there are three.
    fn learned(&self) -> Option<Millis> {
        if self.gaps.len() < 3 {
            return None;
        }
        let mut g: Vec<Millis> = self.gaps.iter().copied().collect();
        g.sort_unstable();
        Some(g[g.len() / 2])
    }

    /// Notes a reading measured at `at`, taken at `now` (host clock).
    fn hear(&mut self, at: Millis, now: Millis) {
        self.at = self.at.max(now);
        match self.measured {
            Some(m) if at > m => {
                if self.gaps.len() == GAPS {
                    self.gaps.pop_front();
                }
                self.gaps.push_back(at - m);
                self.measured = Some(at);
            }
            None => self.measured = Some(at),
            _ => {}
        }
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

/// One sensor: its name, its timing (once heard from), its condensation pairing, and where its
/// tracks are kept, by metric (empty for offline rules).
#[derive(Debug)]
struct SensorPlace {
    name: String,
    heard: Option<Heard>,
    dew: Dew,
    metrics: HashMap<String, usize>,
}

/// The tracks of one (sensor, metric).
#[derive(Debug)]
struct Slot {
    sensor: usize,
    metric: String,
    tracks: Tracks,
}

/// Every sensor and (sensor, metric) slot, found by name only when a plan is made: a reading
/// of a series with a plan touches them by index.
#[derive(Debug, Default)]
struct Places {
    sensors: Vec<SensorPlace>,
    by_name: HashMap<String, usize>,
    slots: Vec<Slot>,
}

impl Places {
    fn sensor(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        self.sensors.push(SensorPlace {
            name: name.to_owned(),
            heard: None,
            dew: Dew::default(),
            metrics: HashMap::new(),
        });
        self.by_name.insert(name.to_owned(), self.sensors.len() - 1);
        self.sensors.len() - 1
    }

    fn slot(&mut self, sensor: usize, metric: &str) -> usize {
        if let Some(&i) = self.sensors[sensor].metrics.get(metric) {
            return i;
        }
        self.slots.push(Slot {
            sensor,
            metric: metric.to_owned(),
            tracks: Vec::new(),
        });
        let i = self.slots.len() - 1;
        self.sensors[sensor].metrics.insert(metric.to_owned(), i);
        i
    }

    /// The position of `rule_id`'s track in `slot`, made on first use.
    fn track(&mut self, slot: usize, rule_id: i64) -> usize {
        let list = &mut self.slots[slot].tracks;
        match list.iter().position(|(id, _)| *id == rule_id) {
            Some(at) => at,
            None => {
                list.push((rule_id, Track::default()));
                list.len() - 1
            }
        }
    }
}

/// Which half of a condensation pair a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pairing {
    None,
    Temperature,
    DewPoint,
}

/// One rule a series' reading meets: the rule's index and its track's place.
#[derive(Debug, Clone, Copy)]
struct Step {
    rule: usize,
    slot: usize,
    track: usize,
    /// A condensation rule: the reading is paired first.
    pairs: bool,
}

/// What a reading of one series meets, resolved from its names once (and again after the
/// rules change): its sensor, and the tracks of the rules that cover it.
#[derive(Debug, Clone)]
struct Plan {
    sensor: usize,
    pairing: Pairing,
    steps: Vec<Step>,
}

/// A series the engine named by its id, with its plan while the rules stay the same.
#[derive(Debug)]
struct Named {
    sensor: String,
    metric: String,
    plan: Option<Plan>,
}

/// The evaluation of every rule; fed in commit order, with the clock passed in.
#[derive(Debug, Default)]
pub struct Evaluator {
    rules: Vec<(i64, Rule)>,
    /// Enabled rules by the metric they watch (near_dew_point under both `temperature` and
    /// `dew_point`), then by sensor, `*` apart: a reading meets only the rules that cover it.
    by_metric: HashMap<String, BySensor>,
    offline: Vec<usize>,
    places: Places,
    series: HashMap<i64, Named>,
}

impl Evaluator {
    /// Starts from the stored rules, the stored tracks that are not ok, and when each sensor was
    /// last heard from, with its usual interval if one was kept
    /// ([`Evaluator::intervals_to_keep`]).
    pub fn new(
        rules: Vec<(i64, Rule)>,
        saved: Vec<(TrackKey, Track)>,
        heard: Vec<(String, Millis, Option<Millis>)>,
    ) -> Evaluator {
        let mut e = Evaluator::default();
        e.set_rules(rules, 0);
        for (key, track) in saved {
            if e.rules
                .iter()
                .any(|(id, r)| *id == key.rule_id && r.enabled)
            {
                let sensor = e.places.sensor(&key.sensor);
                let slot = e.places.slot(sensor, &key.metric);
                let at = e.places.track(slot, key.rule_id);
                e.places.slots[slot].tracks[at].1 = track;
            }
        }
        for (sensor, at, usual) in heard {
            let i = e.places.sensor(&sensor);
            let heard = e.places.sensors[i].heard.get_or_insert_with(Heard::default);
            heard.at = at;
            heard.kept = usual;
        }
        e
    }

    /// Replaces the rules at `now` (host clock). Tracks of rules that changed, were disabled or
    /// removed are dropped: a changed rule starts over from ok. Returns how the alerts of the
    /// dropped tracks end: each one not ok goes to ok, and a firing alert that was told is told
    /// resolved (the updates name the old rules).
    pub fn set_rules(&mut self, rules: Vec<(i64, Rule)>, now: Millis) -> Vec<Update> {
        let kept: Vec<i64> = rules
            .iter()
            .filter(|(id, r)| r.enabled && self.rules.iter().any(|(i, old)| i == id && old == r))
            .map(|(id, _)| *id)
            .collect();
        let mut ended = Vec::new();
        for slot in &mut self.places.slots {
            for (id, track) in &slot.tracks {
                if kept.contains(id) || track.state == State::Ok {
                    continue;
                }
                ended.push(Update {
                    key: TrackKey {
                        rule_id: *id,
                        sensor: self.places.sensors[slot.sensor].name.clone(),
                        metric: slot.metric.clone(),
                    },
                    change: Change {
                        from: track.state,
                        to: State::Ok,
                        at: now,
                        since: now,
                        value: None,
                        notify: track.told_firing,
                    },
                    told_firing: false,
                });
            }
            slot.tracks.retain(|(id, _)| kept.contains(id));
        }
        // Plans point at rules and track positions that just moved.
        for named in self.series.values_mut() {
            named.plan = None;
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
        ended
    }

    pub fn rules(&self) -> &[(i64, Rule)] {
        &self.rules
    }

    /// Names the series the engine knows as `series`, so that its readings can be passed by id
    /// ([`Evaluator::observe_series`]) and skip every lookup by name.
    pub fn name_series(&mut self, series: i64, sensor: &str, metric: &str) {
        self.series.insert(
            series,
            Named {
                sensor: sensor.to_owned(),
                metric: metric.to_owned(),
                plan: None,
            },
        );
    }

    /// Takes one committed reading of a series named before, measured at `at`, evaluated at
    /// `now` (host clock); appends what changed to `out`. Returns false, taking nothing, for a
    /// series not named yet.
    pub fn observe_series(
        &mut self,
        series: i64,
        at: Millis,
        value: f64,
        now: Millis,
        out: &mut Vec<Update>,
    ) -> bool {
        let Some(named) = self.series.get_mut(&series) else {
            return false;
        };
        let plan = match &mut named.plan {
            Some(plan) => plan,
            empty => empty.insert(resolve(
                &self.rules,
                &self.by_metric,
                &mut self.places,
                &named.sensor,
                &named.metric,
            )),
        };
        let offline = !self.offline.is_empty();
        feed(
            &self.rules,
            offline,
            &mut self.places,
            plan,
            at,
            value,
            now,
            out,
        );
        true
    }

    /// Takes one committed reading of `sensor`'s `metric`, measured at `at`, evaluated at `now`
    /// (host clock); appends what changed to `out`. Resolves the names on every call: the
    /// engine names its series once and uses [`Evaluator::observe_series`].
    pub fn observe(
        &mut self,
        sensor: &str,
        metric: &str,
        at: Millis,
        value: f64,
        now: Millis,
        out: &mut Vec<Update>,
    ) {
        let plan = resolve(
            &self.rules,
            &self.by_metric,
            &mut self.places,
            sensor,
            metric,
        );
        let offline = !self.offline.is_empty();
        feed(
            &self.rules,
            offline,
            &mut self.places,
            &plan,
            at,
            value,
            now,
            out,
        );
    }

    /// The timer: fires offline rules for sensors silent past their limit (the rule's `for`, or
    /// three times the sensor's usual interval once it is known).
    pub fn tick(&mut self, now: Millis, out: &mut Vec<Update>) {
        let mut due = Vec::new();
        for &i in &self.offline {
            let (id, rule) = &self.rules[i];
            for (s, place) in self.places.sensors.iter().enumerate() {
                let Some(heard) = &place.heard else {
                    continue;
                };
                if !rule.covers(&place.name) {
                    continue;
                }
                if let Some(limit) = rule.hold.or_else(|| heard.usual().map(|u| 3 * u)) {
                    due.push((*id, s, heard.at, limit));
                }
            }
        }
        for (id, sensor, heard, limit) in due {
            let slot = self.places.slot(sensor, "");
            let at = self.places.track(slot, id);
            let track = &mut self.places.slots[slot].tracks[at].1;
            let changes = track.check_silence(heard, limit, now);
            let told = track.told_firing;
            push(
                out,
                id,
                &self.places.sensors[sensor].name,
                "",
                changes,
                told,
            );
        }
    }

    /// The usual intervals to keep in the store, so that a restart does not have to learn them
    /// again before an offline rule without a `for` can fire: each sensor's learned interval
    /// when it is new or moved by more than a tenth from the one last kept. Only while an
    /// offline rule is enabled (at its first call then, every learned interval).
    pub fn intervals_to_keep(&mut self) -> Vec<(String, Millis)> {
        if self.offline.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for place in &mut self.places.sensors {
            let Some(heard) = &mut place.heard else {
                continue;
            };
            let Some(learned) = heard.learned() else {
                continue;
            };
            if heard.kept.is_none_or(|k| (learned - k).abs() * 10 > k) {
                heard.kept = Some(learned);
                out.push((place.name.clone(), learned));
            }
        }
        out
    }

    /// Every track that is not ok, for the API's list of active alerts.
    pub fn active(&self) -> Vec<(TrackKey, &Track)> {
        let mut all = Vec::new();
        for slot in &self.places.slots {
            for (id, t) in &slot.tracks {
                if t.state != State::Ok {
                    all.push((
                        TrackKey {
                            rule_id: *id,
                            sensor: self.places.sensors[slot.sensor].name.clone(),
                            metric: slot.metric.clone(),
                        },
                        t,
                    ));
                }
            }
        }
        all
    }
}

/// The plan of a reading of `sensor`'s `metric`: the rules that cover it, each with its track
/// (made here, so that positions hold until the rules change).
fn resolve(
    rules: &[(i64, Rule)],
    by_metric: &HashMap<String, BySensor>,
    places: &mut Places,
    sensor: &str,
    metric: &str,
) -> Plan {
    let s = places.sensor(sensor);
    let pairing = match metric {
        "temperature" => Pairing::Temperature,
        "dew_point" => Pairing::DewPoint,
        _ => Pairing::None,
    };
    let mut steps = Vec::new();
    if let Some(covering) = by_metric.get(metric) {
        for i in covering.covering(sensor) {
            let (id, rule) = &rules[i];
            let pairs = rule.condition == Condition::NearDewPoint;
            // A condensation alert is kept under temperature, whichever half arrives.
            let slot = places.slot(s, if pairs { "temperature" } else { metric });
            let track = places.track(slot, *id);
            steps.push(Step {
                rule: i,
                slot,
                track,
                pairs,
            });
        }
    }
    Plan {
        sensor: s,
        pairing,
        steps,
    }
}

/// Runs one reading through its plan: notes the sensor heard from (resolving its offline
/// alerts), then each covering rule's track.
#[allow(clippy::too_many_arguments)]
fn feed(
    rules: &[(i64, Rule)],
    offline: bool,
    places: &mut Places,
    plan: &Plan,
    at: Millis,
    value: f64,
    now: Millis,
    out: &mut Vec<Update>,
) {
    let Places { sensors, slots, .. } = places;
    let place = &mut sensors[plan.sensor];
    place.heard.get_or_insert_with(Heard::default).hear(at, now);
    if offline {
        if let Some(&slot) = place.metrics.get("") {
            for (id, track) in &mut slots[slot].tracks {
                let changes = track.heard(now);
                let told = track.told_firing;
                push(out, *id, &place.name, "", changes, told);
            }
        }
    }
    for step in &plan.steps {
        let (id, rule) = &rules[step.rule];
        let value = if step.pairs {
            let dew = &mut place.dew;
            match plan.pairing {
                Pairing::Temperature => dew.temperature = Some((at, value)),
                Pairing::DewPoint => dew.dew_point = Some((at, value)),
                Pairing::None => continue,
            }
            match (dew.temperature, dew.dew_point) {
                (Some((ta, t)), Some((da, d))) if ta == da && ta == at => t - d,
                _ => continue,
            }
        } else {
            value
        };
        let slot = &mut slots[step.slot];
        let track = &mut slot.tracks[step.track].1;
        let changes = track.observe(rule, at, value, now);
        if !changes.is_empty() {
            let told = track.told_firing;
            push(out, *id, &place.name, &slot.metric, changes, told);
        }
    }
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
            vec![("old".into(), 0, None)],
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
    fn a_series_passed_by_id_meets_the_rules_of_its_names_and_of_rules_added_later() {
        let co2 = rule(json!({"sensor":"a","metric":"co2","condition":"above","threshold":1000}));
        let mut e = Evaluator::new(vec![(1, co2.clone())], vec![], vec![]);
        let mut out = Vec::new();
        assert!(
            !e.observe_series(7, 0, 1200.0, 0, &mut out),
            "not named yet"
        );
        e.name_series(7, "a", "co2");
        e.name_series(8, "b", "co2");
        assert!(e.observe_series(7, 1, 1200.0, 1, &mut out));
        assert!(e.observe_series(8, 1, 1200.0, 1, &mut out));
        assert_eq!(seen(&out), [(1, "a", "co2", State::Firing, true)]);
        // Readings by name and by id reach the same track: no second firing.
        e.observe("a", "co2", 2, 1300.0, 2, &mut out);
        assert_eq!(out.len(), 1);
        // A rule for every sensor added: both series meet it, and rule 1 goes on as it was.
        out.clear();
        let every = rule(json!({"sensor":"*","metric":"co2","condition":"above","threshold":1100}));
        assert!(e.set_rules(vec![(1, co2), (2, every)], 3).is_empty());
        e.observe_series(7, 3, 1200.0, 3, &mut out);
        e.observe_series(8, 3, 1200.0, 3, &mut out);
        assert_eq!(
            seen(&out),
            [
                (2, "a", "co2", State::Firing, true),
                (2, "b", "co2", State::Firing, true)
            ]
        );
        // Rule 1 removed: its track is gone, and rule 2's are kept.
        out.clear();
        let ended = e.set_rules(
            vec![(
                2,
                rule(json!({"sensor":"*","metric":"co2","condition":"above","threshold":1100})),
            )],
            4,
        );
        assert_eq!(seen(&ended), [(1, "a", "co2", State::Ok, true)]);
        e.observe_series(7, 4, 500.0, 4, &mut out);
        assert_eq!(seen(&out), [(2, "a", "co2", State::Ok, true)]);
        assert_eq!(e.active().len(), 1);
    }

    #[test]
    fn condensation_pairs_series_passed_by_id() {
        let mut e = Evaluator::new(vec![(7, presets()[1].rule.clone())], vec![], vec![]);
        e.name_series(1, "bath", "temperature");
        e.name_series(2, "bath", "dew_point");
        let mut out = Vec::new();
        e.observe_series(1, 1_000, 18.0, 1_000, &mut out);
        e.observe_series(2, 900, 17.5, 1_000, &mut out);
        assert!(out.is_empty());
        e.observe_series(2, 1_000, 17.0, 1_000, &mut out);
        assert_eq!(
            seen(&out),
            [(7, "bath", "temperature", State::Firing, true)]
        );
    }

    #[test]
    fn a_usual_interval_is_kept_for_a_restart_and_used_until_one_is_learned_again() {
        let offline = || vec![(1, rule(json!({"sensor":"*","condition":"offline"})))];
        let mut e = Evaluator::new(offline(), vec![], vec![]);
        let mut out = Vec::new();
        for i in 0..4 {
            e.observe("a", "co2", i * 10 * SECOND, 1.0, i * 10 * SECOND, &mut out);
        }
        assert_eq!(e.intervals_to_keep(), [("a".to_owned(), 10 * SECOND)]);
        assert!(e.intervals_to_keep().is_empty(), "kept already");
        // A tenth off is not worth a write; more is.
        e.observe("a", "co2", 41 * SECOND, 1.0, 41 * SECOND, &mut out);
        e.observe("a", "co2", 52 * SECOND, 1.0, 52 * SECOND, &mut out);
        assert!(e.intervals_to_keep().is_empty());
        for i in 0..5 {
            let at = 52 * SECOND + (i + 1) * 20 * SECOND;
            e.observe("a", "co2", at, 1.0, at, &mut out);
        }
        assert_eq!(e.intervals_to_keep(), [("a".to_owned(), 20 * SECOND)]);

        // After a restart: heard once, offline three kept intervals later, not before.
        let mut e = Evaluator::new(offline(), vec![], vec![("a".into(), 0, Some(10 * SECOND))]);
        e.observe("a", "co2", MINUTE, 1.0, MINUTE, &mut out);
        assert!(out.is_empty(), "{out:?}");
        e.tick(MINUTE + 30 * SECOND, &mut out);
        assert!(out.is_empty(), "{out:?}");
        e.tick(MINUTE + 30 * SECOND + 1, &mut out);
        assert_eq!(seen(&out), [(1, "a", "", State::Firing, true)]);
        // Without an offline rule nothing is kept.
        let mut e = Evaluator::new(vec![], vec![], vec![]);
        for i in 0..4 {
            e.observe("a", "co2", i * SECOND, 1.0, i * SECOND, &mut out);
        }
        assert!(e.intervals_to_keep().is_empty());
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
        let ended = e.set_rules(vec![(1, changed)], 20);
        assert!(e.active().is_empty());
        // The firing alert that was told ends resolved, told, at the change.
        assert_eq!(seen(&ended), [(1, "a", "co2", State::Ok, true)]);
        assert_eq!(
            ended[0].change,
            Change {
                from: State::Firing,
                to: State::Ok,
                at: 20,
                since: 20,
                value: None,
                notify: true
            }
        );
        assert!(ended[0].change.recorded());
    }
}
