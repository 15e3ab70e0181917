//! Webhooks: which URL gets what (JSON, or an ntfy message), and the delivery thread that sends
//! the queue kept in SQLite in order per URL, retrying with backoff for up to an hour.
//!
//! A URL is an ntfy topic when its host is `ntfy.sh` (or a subdomain), or when it is written
//! with `ntfy+` before its scheme (`ntfy+https://ntfy.example.org/alerts`, for a self-hosted
//! server); either way its path must be a single segment, the topic.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use clima_model::alert::Notice;
use clima_model::{Millis, HOUR};
use url::Url;

use super::Shared;
use crate::forward::target::{basic_auth, percent_decode, redact_text, shown};
use crate::now_ms;
use crate::store::alerts::{self as table, Delivery};

/// Why a webhook URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {0:?} is not an http(s) URL: give e.g. https://hooks.example.org/clima, or ntfy+https://HOST/TOPIC for a self-hosted ntfy")]
    NotUrl(String),
    #[error("webhook {0}: an ntfy URL names one topic, e.g. https://ntfy.sh/my-clima-alerts")]
    NtfyTopic(String),
}

/// A webhook target.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// As given (credentials and an `ntfy+` prefix included): what deliveries keep.
    pub url: String,
    /// Where it posts, without credentials.
    target: Url,
    /// `user:password` from the URL, sent as basic authentication.
    login: Option<(String, String)>,
    pub ntfy: bool,
    /// The URL with credentials as `***`.
    pub shown: String,
}

/// A webhook as the API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookView {
    /// Set for one added in Settings (which may be removed); none for `--alert-webhook`.
    pub id: Option<i64>,
    pub url: String,
    /// `ntfy` (a readable message) or `json`.
    pub format: &'static str,
    /// `command-line` or `settings`.
    pub origin: &'static str,
}

impl Webhook {
    pub fn parse(raw: &str) -> Result<Webhook, WebhookError> {
        let raw = raw.trim();
        let (marked, rest) = match raw.strip_prefix("ntfy+") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let mut url = Url::parse(rest).map_err(|_| WebhookError::NotUrl(redact_text(raw)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(WebhookError::NotUrl(redact_text(raw)));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let ntfy = marked || host == "ntfy.sh" || host.ends_with(".ntfy.sh");
        let shown = shown(&url);
        let shown = if marked {
            format!("ntfy+{shown}")
        } else {
            shown
        };
        if ntfy {
            let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
            if segments.len() != 1 || segments[0].is_empty() || url.query().is_some() {
                return Err(WebhookError::NtfyTopic(shown));
            }
        }
        let login = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Webhook {
            url: raw.to_owned(),
            target: url,
            login,
            ntfy,
            shown,
        })
    }

    pub(super) fn view(&self, id: Option<i64>) -> WebhookView {
        WebhookView {
            id,
            url: self.shown.clone(),
            format: if self.ntfy { "ntfy" } else { "json" },
            origin: if id.is_some() {
                "settings"
            } else {
                "command-line"
            },
        }
    }

    /// Posts one notice; `Err` says why it failed.
    fn post(&self, agent: &ureq::Agent, notice: &Notice) -> Result<(), String> {
        let mut req = agent.post(self.target.as_str());
        if let Some((user, password)) = &self.login {
            req = req.set("Authorization", &basic_auth(user, password));
        }
        let sent = if self.ntfy {
            let m = notice.ntfy();
            req.set("Title", &header_text(&m.title))
                .set("Priority", &m.priority.to_string())
                .set("Tags", m.tags)
                .set("Content-Type", "text/plain; charset=utf-8")
                .send_string(&m.body)
        } else {
            req.set("Content-Type", "application/json")
                .send_string(&serde_json::to_string(notice).unwrap_or_default())
        };
        match sent {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => Err(format!("{} answered {code}", self.shown)),
            Err(e) => Err(format!("{}: {e}", self.shown)),
        }
    }
}

/// A header value: ASCII as is, anything else as RFC 2047 encoded UTF-8, which ntfy reads.
fn header_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        s.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

/// Wakes the delivery thread when something is queued, or to stop.
#[derive(Default)]
pub(crate) struct Wake {
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Wake {
    pub(crate) fn wake(&self) {
        self.state.lock().expect("wake").0 = true;
        self.changed.notify_all();
    }

    pub(crate) fn stop(&self) {
        self.state.lock().expect("wake").1 = true;
        self.changed.notify_all();
    }

    /// Waits for a wake, a stop or `timeout`; returns whether stopping.
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.state.lock().expect("wake");
        let (mut guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |(woken, stop)| !*woken && !*stop)
            .expect("wake");
        guard.0 = false;
        guard.1
    }
}

/// A delivery is given up this long after it was queued.
const GIVE_UP: Millis = HOUR;
/// Longest wait between tries.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// The queue is looked at at least this often.
const POLL: Duration = Duration::from_secs(1);

pub(super) fn spawn(shared: Arc<Shared>) -> Result<JoinHandle<()>, std::io::Error> {
    std::thread::Builder::new()
        .name("clima-webhooks".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build();
    // After a delivery, the next in its queue goes at once.
    let mut busy = false;
    loop {
        if !busy && shared.deliveries.wait(POLL) {
            break;
        }
        busy = false;
        let heads = match shared.reader.alerts(table::delivery_heads) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "webhook queue could not be read; will retry");
                continue;
            }
        };
        for d in heads {
            if shared.deliveries.stopping() {
                return;
            }
            busy |= deliver(shared, &agent, d);
        }
    }
    tracing::debug!("webhook deliveries stopped");
}

impl Wake {
    fn stopping(&self) -> bool {
        self.state.lock().expect("wake").1
    }
}

/// Tries the head of one URL's queue if it is due; returns whether it was delivered.
fn deliver(shared: &Shared, agent: &ureq::Agent, d: Delivery) -> bool {
    let now = now_ms();
    if d.next_at > now {
        return false;
    }
    let id = d.id;
    let outcome = match (
        Webhook::parse(&d.url),
        serde_json::from_str::<Notice>(&d.notice),
    ) {
        (Ok(hook), Ok(notice)) => hook.post(agent, &notice).map_err(|e| (e, true)),
        (Err(e), _) => Err((e.to_string(), false)),
        (_, Err(e)) => Err((format!("the queued notice does not read back: {e}"), false)),
    };
    let delivered = outcome.is_ok();
    let result = match outcome {
        Ok(()) => shared.writer.run(move |c| table::delivered(c, id)),
        Err((e, retry)) if retry && now - d.created_at < GIVE_UP => {
            let wait = clima_model::forward::backoff(d.attempts as u32, BACKOFF_CAP);
            tracing::warn!(error = %e, attempts = d.attempts + 1, "webhook delivery failed; will retry");
            let next = now + wait.as_millis() as Millis;
            shared.writer.run(move |c| table::retry_at(c, id, next, &e))
        }
        Err((e, _)) => {
            tracing::warn!(error = %e, "webhook delivery given up");
            shared.writer.run(move |c| table::delivered(c, id))
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "webhook queue could not be updated");
        return false;
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntfy_urls_are_told_apart_and_credentials_hidden() {
        let check = |raw: &str, ntfy: bool, shown: &str| {
            let w = Webhook::parse(raw).unwrap();
            assert_eq!((w.ntfy, w.shown.as_str()), (ntfy, shown), "{raw}");
        };
        check(
            "https://ntfy.sh/clima-alerts",
            true,
            "https://ntfy.sh/clima-alerts",
        );
        check(
            "ntfy+https://me:pw@push.example.org/home",
            true,
            "ntfy+https://***@push.example.org/home",
        );
        check(
            "https://hooks.example.org/a/b?token=x",
            false,
            "https://hooks.example.org/a/b?token=***",
        );
        assert!(matches!(
            Webhook::parse("https://ntfy.sh/a/b"),
            Err(WebhookError::NtfyTopic(_))
        ));
        assert!(matches!(
            Webhook::parse("https://ntfy.sh/"),
            Err(WebhookError::NtfyTopic(_))
        ));
        assert!(matches!(
            Webhook::parse("ftp://x/y"),
            Err(WebhookError::NotUrl(_))
        ));
        assert!(matches!(
            Webhook::parse("nonsense"),
            Err(WebhookError::NotUrl(_))
        ));
        assert_eq!(header_text("Bath: Mould"), "Bath: Mould");
        assert_eq!(header_text("浴室"), "=?UTF-8?B?5rW05a6k?=");
    }
}
