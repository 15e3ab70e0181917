//! A line-protocol target (InfluxDB 1.x `/write`, 2 and 3 `/api/v2/write`, VictoriaMetrics):
//! a batch is up to 5,000 lines in one POST.

use std::time::Duration;

use super::feed::View;
use super::worker::{Sent, Sink};
use super::Target;

pub(super) struct Influx {
    target: Target,
    agent: ureq::Agent,
}

impl Influx {
    pub(super) fn new(target: Target) -> Influx {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build();
        Influx { target, agent }
    }

    fn post(&self, body: &str) -> Sent {
        let mut req = self
            .agent
            .post(&self.target.endpoint)
            .set("Content-Type", "text/plain; charset=utf-8");
        if let Some(auth) = &self.target.authorization {
            req = req.set("Authorization", auth.expose());
        }
        match req.send_string(body) {
            Ok(_) => Sent::Accepted,
            Err(ureq::Error::Status(status, reply)) => {
                let text = reply.into_string().unwrap_or_default();
                let message: String = text.trim().chars().take(300).collect();
                match status {
                    400 | 422 => Sent::Refused(status, message),
                    401 | 403 => Sent::Failed(format!("{status}: the target refused the credentials ({message}): check the URL's user and password or --forward-token-env")),
                    404 => Sent::Failed(format!("404: {message} (does the database or bucket exist?)")),
                    _ => Sent::Failed(format!("{status}: {message}")),
                }
            }
            Err(ureq::Error::Transport(t)) => {
                // Not `t`'s own text: it starts with the URL, which may hold a password.
                let why = t
                    .message()
                    .map(str::to_owned)
                    .or_else(|| std::error::Error::source(&t).map(|s| s.to_string()))
                    .unwrap_or_default();
                Sent::Failed(format!("cannot reach the target: {} {why}", t.kind()))
            }
        }
    }
}

impl Sink for Influx {
    /// A view is at most one request: all of it goes, in the line protocol written once for
    /// every forwarder.
    fn send(&mut self, view: &View) -> (usize, Sent) {
        (view.samples().len(), self.post(&view.line_protocol()))
    }
}
