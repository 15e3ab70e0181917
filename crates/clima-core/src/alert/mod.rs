//! Alerts in the engine: the rules kept in the store, the evaluation thread fed by every commit
//! (`evaluate`), the webhook deliveries (`webhook`), and what the API lists and streams.

mod evaluate;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use clima_model::alert::{self, presets, Evaluator, Rule, RuleError, State};
use clima_model::Millis;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::store::alerts::{self as table, AlertFeed};
use crate::store::{Reader, StoreError, WriteHandle};
pub use webhook::{Webhook, WebhookError, WebhookView};

/// Transitions shown by `GET /api/v1/alerts`.
pub const HISTORY_SHOWN: i64 = 200;

/// Why an alert call failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The rule is not valid; the error names the field.
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("no alert rule {0}: see /api/v1/alerts/rules")]
    UnknownRule(i64),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("no webhook {0} was added in Settings: see /api/v1/alerts/webhooks")]
    UnknownWebhook(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The alerts' threads could not start.
    #[error("cannot start the alerts' threads: {0}")]
    Thread(#[from] std::io::Error),
}

/// A rule as the API lists it: its id, then its fields.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleView {
    pub id: i64,
    /// The rule's label, or its numbers in words.
    pub title: String,
    #[serde(flatten)]
    pub rule: Value,
}

impl RuleView {
    fn new(id: i64, rule: &Rule) -> RuleView {
        RuleView {
            id,
            title: rule.title(),
            rule: rule.to_json(),
        }
    }
}

/// A preset as Settings offers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PresetView {
    pub id: &'static str,
    pub title: String,
    /// The rule to post (every number shown, editable).
    pub rule: Value,
}

/// An alert: an active one (pending or firing), a past transition, or a change streamed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertView {
    pub rule_id: i64,
    /// The rule's label or numbers.
    pub rule: String,
    pub sensor: String,
    /// The sensor's display name (untrusted text).
    pub name: Option<String>,
    /// Empty for an offline rule.
    pub metric: String,
    pub state: State,
    /// Since when the state's condition holds (unix ms).
    pub since: Millis,
    /// When the transition happened (history and stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Millis>,
    /// The value that made the change (the spread to the dew point for condensation).
    pub value: Option<f64>,
    /// The rule's numbers and the value, in words.
    pub reason: String,
    /// Whether it was notified (history: a backlog's transitions are recorded only; stream:
    /// whether this change is one to notify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified: Option<bool>,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertList {
    pub active: Vec<AlertView>,
    pub history: Vec<AlertView>,
    /// Samples the evaluation left out since start because it fell behind (each of their
    /// series went on from its newest stored value); absent while none was.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Webhooks from the command line, then those added in Settings with their ids.
pub(crate) type Hooks = (Vec<Webhook>, Vec<(i64, Webhook)>);

/// What the alerts share between the API and their threads.
pub(crate) struct Shared {
    pub writer: WriteHandle,
    pub reader: Arc<Reader>,
    pub evaluator: Mutex<Evaluator>,
    pub feed: Arc<AlertFeed>,
    /// Every transition, for the live stream and the desktop window.
    pub events: broadcast::Sender<AlertView>,
    /// `--alert-webhook` URLs, then those added in Settings (with their ids).
    pub webhooks: RwLock<Hooks>,
    pub deliveries: Arc<webhook::Wake>,
    /// Changes not yet stored: the evaluation stores them once a second in one write, so that
    /// states flipping with every commit do not split the writer's group commits.
    pub unsaved: Mutex<Vec<table::Stored>>,
    /// Samples the evaluation left out since start because it fell behind.
    pub skipped: AtomicU64,
}

/// The running alerts: held by the API, stopped by the engine.
pub struct Alerts {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Alerts {
    /// Loads rules, states and webhooks, and starts the evaluation and delivery threads.
    pub fn start(
        writer: WriteHandle,
        reader: Arc<Reader>,
        feed: Arc<AlertFeed>,
        command_line: &[String],
    ) -> Result<Alerts, AlertError> {
        let cli = command_line
            .iter()
            .map(|u| Webhook::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let (rules, states, heard, kept) = reader.alerts(|c| {
            Ok((
                table::rules(c)?,
                table::states(c)?,
                table::heard(c)?,
                table::webhooks(c)?,
            ))
        })?;
        let kept = kept
            .into_iter()
            .filter_map(|(id, url)| Webhook::parse(&url).ok().map(|w| (id, w)))
            .collect();
        let active = rules.iter().any(|(_, r)| r.enabled);
        feed.connect();
        feed.set_active(active);
        let shared = Arc::new(Shared {
            writer,
            reader,
            evaluator: Mutex::new(Evaluator::new(rules, states, heard)),
            feed,
            events: broadcast::channel(256).0,
            webhooks: RwLock::new((cli, kept)),
            deliveries: Arc::default(),
            unsaved: Mutex::default(),
            skipped: AtomicU64::new(0),
        });
        let threads = vec![
            evaluate::spawn(shared.clone())?,
            webhook::spawn(shared.clone())?,
        ];
        Ok(Alerts {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Stops both threads (before the writer stops: they write through it).
    pub fn stop(&self) {
        self.shared.feed.disconnect();
        self.shared.deliveries.stop();
        for t in self.threads.lock().expect("alert threads").drain(..) {
            let _ = t.join();
        }
    }

    pub fn rules(&self) -> Vec<RuleView> {
        let e = self.shared.evaluator.lock().expect("evaluator");
        e.rules()
            .iter()
            .map(|(id, r)| RuleView::new(*id, r))
            .collect()
    }

    pub fn presets(&self) -> Vec<PresetView> {
        presets()
            .into_iter()
            .map(|p| PresetView {
                id: p.id,
                title: p.rule.title(),
                rule: p.rule.to_json(),
            })
            .collect()
    }

    /// Adds a rule. Blocking.
    pub fn create(&self, json: &Value) -> Result<RuleView, AlertError> {
        let rule = Rule::from_json(json)?;
        let r = rule.clone();
        let id = self.change_rules(move |c| table::insert_rule(c, &r))?;
        Ok(RuleView::new(id, &rule))
    }

    /// Replaces a rule; its alerts start over. Blocking.
    pub fn update(&self, id: i64, json: &Value) -> Result<RuleView, AlertError> {
        let rule = Rule::from_json(json)?;
        let r = rule.clone();
        if !self.change_rules(move |c| table::update_rule(c, id, &r))? {
            return Err(AlertError::UnknownRule(id));
        }
        Ok(RuleView::new(id, &rule))
    }

    /// Deletes a rule and its alerts (its history stays). Blocking.
    pub fn delete(&self, id: i64) -> Result<(), AlertError> {
        if !self.change_rules(move |c| table::delete_rule(c, id))? {
            return Err(AlertError::UnknownRule(id));
        }
        Ok(())
    }

    /// Changes the rules' table, then the evaluation, holding it meanwhile so that no state of
    /// a rule that changed is stored after the change.
    fn change_rules<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut e = self.shared.evaluator.lock().expect("evaluator");
        // Changes of the old rules go first, so none is stored after the rules change.
        evaluate::flush(&self.shared);
        let (out, rules) = self.shared.writer.run(move |c| {
            let out = f(c)?;
            Ok((out, table::rules(c)?))
        })?;
        let active = rules.iter().any(|(_, r)| r.enabled);
        // Rules that did not change keep their states; the others start over.
        let kept: Vec<i64> = rules
            .iter()
            .filter(|(id, r)| r.enabled && e.rules().iter().any(|(i, old)| i == id && old == r))
            .map(|(id, _)| *id)
            .collect();
        // Alerts of rules that changed or went end here: firing ones are told resolved.
        let old = e.rules().to_vec();
        let ended = e.set_rules(rules, crate::now_ms());
        if !ended.is_empty() {
            evaluate::keep(&self.shared, &old, ended);
            evaluate::flush(&self.shared);
        }
        self.shared
            .writer
            .run(move |c| table::drop_states_except(c, &kept))?;
        self.shared.feed.set_active(active);
        Ok(out)
    }

    /// Active alerts and the last [`HISTORY_SHOWN`] transitions, newest first, every transition
    /// sent as an event included. Blocking.
    pub fn list(&self) -> Result<AlertList, StoreError> {
        // Transitions are stored once a second; storing what is pending first makes the history
        // as current as the events already sent.
        let e = self.shared.evaluator.lock().expect("evaluator");
        evaluate::flush(&self.shared);
        let (history, names) = self
            .shared
            .reader
            .alerts(|c| Ok((table::history(c, HISTORY_SHOWN)?, table::sensor_names(c)?)))?;
        let names: HashMap<String, String> = names.into_iter().collect();
        let rules: HashMap<i64, &Rule> = e.rules().iter().map(|(id, r)| (*id, r)).collect();
        let mut active: Vec<AlertView> = e
            .active()
            .into_iter()
            .filter_map(|(k, t)| {
                let rule = rules.get(&k.rule_id)?;
                Some(AlertView {
                    rule_id: k.rule_id,
                    rule: rule.title(),
                    name: names.get(&k.sensor).cloned(),
                    sensor: k.sensor,
                    metric: k.metric,
                    state: t.state,
                    since: t.since,
                    at: None,
                    value: t.value,
                    reason: alert::reason(rule, t.state, t.value),
                    notified: None,
                })
            })
            .collect();
        active.sort_by_key(|a| (a.state != State::Firing, a.since));
        let history = history
            .into_iter()
            .map(|p| AlertView {
                rule_id: p.rule_id,
                rule: p.rule,
                name: names.get(&p.sensor).cloned(),
                sensor: p.sensor,
                metric: p.metric,
                state: p.state,
                since: p.since,
                at: Some(p.at),
                value: p.value,
                reason: p.reason,
                notified: Some(p.told),
            })
            .collect();
        Ok(AlertList {
            active,
            history,
            skipped: self.shared.skipped.load(Ordering::Relaxed),
        })
    }

    /// Every transition from now on (pending, firing, resolved; `notified` says which to tell).
    pub fn subscribe(&self) -> broadcast::Receiver<AlertView> {
        self.shared.events.subscribe()
    }

    /// The webhooks: from the command line, then added in Settings; credentials as `***`.
    pub fn webhooks(&self) -> Vec<WebhookView> {
        let w = self.shared.webhooks.read().expect("webhooks");
        w.0.iter()
            .map(|h| h.view(None))
            .chain(w.1.iter().map(|(id, h)| h.view(Some(*id))))
            .collect()
    }

    /// Adds a webhook, kept in the database. Blocking.
    pub fn add_webhook(&self, url: &str) -> Result<WebhookView, AlertError> {
        let hook = Webhook::parse(url)?;
        let raw = hook.url.clone();
        let id = self
            .shared
            .writer
            .run(move |c| table::add_webhook(c, &raw))?;
        let mut w = self.shared.webhooks.write().expect("webhooks");
        if !w.1.iter().any(|(i, _)| *i == id) {
            w.1.push((id, hook.clone()));
        }
        Ok(hook.view(Some(id)))
    }

    /// Removes a webhook added in Settings (deliveries already queued for it still go). Blocking.
    pub fn remove_webhook(&self, id: i64) -> Result<(), AlertError> {
        if !self
            .shared
            .writer
            .run(move |c| table::remove_webhook(c, id))?
        {
            return Err(AlertError::UnknownWebhook(id));
        }
        self.shared
            .webhooks
            .write()
            .expect("webhooks")
            .1
            .retain(|(i, _)| *i != id);
        Ok(())
    }

    /// Firing alerts, for the tray's tooltip.
    pub fn firing(&self) -> usize {
        let e = self.shared.evaluator.lock().expect("evaluator");
        e.active()
            .iter()
            .filter(|(_, t)| t.state == State::Firing)
            .count()
    }
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.stop();
    }
}
