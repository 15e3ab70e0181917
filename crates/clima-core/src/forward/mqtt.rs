//! An MQTT broker as a forwarder's target (`mqtt://`, or `mqtts://` over TLS): each series'
//! state retained at `PREFIX/SENSOR/METRIC` with QoS 1, Home Assistant discovery for each series
//! the first time it is sent in a session, and each sensor's availability following the
//! dashboard's stale rule. A batch counts as delivered once the broker acknowledged every one of
//! its publishes, matched by packet id (`clima_model::forward::Acks`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clima_model::forward::{
    availability_topic, discovery, is_stale, state_topic, usual_interval, Acks,
};
use clima_model::Millis;
use rumqttc::{Client, Connection, Event, MqttOptions, Outgoing, Packet, QoS, Transport};

use super::feed::View;
use super::target::{Broker, Roots, TargetError};
use super::worker::{Sent, Sink};
use crate::now_ms;

/// Most publishes in one batch (a sample's state, plus its series' discovery config and its
/// sensor's availability the first time they are sent in a session).
const BATCH_PUBLISHES: usize = 1_000;
/// How long a batch may wait for the broker's acknowledgements.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection (TCP, TLS and MQTT's CONNECT) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Recent times kept per sensor to learn its usual interval.
const TIMES_KEPT: usize = 16;

#[derive(Default)]
struct Seen {
    times: VecDeque<Millis>,
    /// Whether the sensor is online (readings come) or offline (stale).
    online: bool,
    /// Whether the broker was told `online` in this session.
    told: bool,
}

/// One connection to the broker: the client and its event loop, driven from the forwarder's own
/// thread, so that every event seen belongs to what this thread published. A failure of any kind
/// drops the session (and with it whatever the client still held), so nothing of a failed batch
/// can be taken for the next one; the next batch connects afresh.
struct Session {
    client: Client,
    connection: Connection,
}

pub(super) struct Mqtt {
    broker: Broker,
    options: MqttOptions,
    session: Option<Session>,
    /// Series whose discovery config the broker acknowledged in this session.
    announced: HashSet<(Arc<str>, Arc<str>)>,
    sensors: HashMap<Arc<str>, Seen>,
}

/// The TLS settings for an `mqtts://` broker, read now so that a bad `?ca=` file is refused when
/// the forwarder is added rather than at each try.
pub(super) fn tls(
    broker: &Broker,
    shown: &str,
) -> Result<Option<Arc<rustls::ClientConfig>>, TargetError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let Some(roots) = &broker.tls else {
        return Ok(None);
    };
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::Public => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let refused = |why: String| TargetError::MqttCa {
                shown: shown.to_owned(),
                path: path.display().to_string(),
                why,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| refused(e.to_string()))?;
            if certs.is_empty() {
                return Err(refused("it holds no PEM certificate".into()));
            }
            for c in certs {
                store.add(c).map_err(|e| refused(e.to_string()))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TargetError::MqttCa {
            shown: shown.to_owned(),
            path: String::new(),
            why: e.to_string(),
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

impl Mqtt {
    pub(super) fn new(broker: Broker, id: i64, tls: Option<Arc<rustls::ClientConfig>>) -> Mqtt {
        let mut options = MqttOptions::new(
            format!("clima-{}-{id}", std::process::id()),
            broker.host.clone(),
            broker.port,
        );
        options.set_keep_alive(Duration::from_secs(30));
        // A new session each connection: what the broker held of a failed one is resent by the
        // forwarder, as a whole batch.
        options.set_clean_session(true);
        if let Some((user, password)) = &broker.login {
            options.set_credentials(user.clone(), password.expose().to_owned());
        }
        if let Some(config) = tls {
            options.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        Mqtt {
            broker,
            options,
            session: None,
            announced: HashSet::new(),
            sensors: HashMap::new(),
        }
    }

    fn failed(&mut self, why: impl std::fmt::Display) -> String {
        self.session = None;
        let mut message = format!(
            "MQTT broker {}:{}: {why}",
            self.broker.host, self.broker.port
        );
        if self.broker.tls.is_some() && message.contains("certificate") {
            message.push_str(
                " (a broker with a certificate of its own CA needs ?ca=PATH in the forward URL)",
            );
        }
        message
    }

    /// Connects unless connected: a new session announces every series and sensor again, so a
    /// broker that lost its retained messages gets them back.
    fn connect(&mut self) -> Result<(), String> {
        if self.session.is_some() {
            return Ok(());
        }
        let (client, mut connection) = Client::new(self.options.clone(), BATCH_PUBLISHES + 8);
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match connection.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.failed(e)),
                Err(_) => return Err(self.failed(format!("no answer within {CONNECT_TIMEOUT:?}"))),
            }
        }
        tracing::info!(broker = %format!("{}:{}", self.broker.host, self.broker.port), "connected to the MQTT broker");
        self.session = Some(Session { client, connection });
        self.announced.clear();
        for seen in self.sensors.values_mut() {
            seen.told = false;
        }
        Ok(())
    }

    /// Publishes `messages` (topic, payload), retained with QoS 1, and waits until the broker
    /// acknowledged each of them.
    fn deliver(&mut self, messages: Vec<(String, String)>) -> Result<(), String> {
        self.connect()?;
        let session = self.session.as_mut().expect("connected");
        let total = messages.len();
        let mut acks = Acks::new(total);
        let mut refused = None;
        for (topic, payload) in messages {
            if let Err(e) = session
                .client
                .try_publish(topic, QoS::AtLeastOnce, true, payload)
            {
                refused = Some(format!("the MQTT client refused a publish: {e}"));
                break;
            }
        }
        if let Some(why) = refused {
            return Err(self.failed(why));
        }
        let deadline = Instant::now() + ACK_TIMEOUT;
        while !acks.complete() {
            let left = deadline.saturating_duration_since(Instant::now());
            let session = self.session.as_mut().expect("connected");
            match session.connection.recv_timeout(left) {
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    acks.sent(pkid);
                }
                Ok(Ok(Event::Outgoing(Outgoing::AwaitAck(pkid)))) => acks.held(pkid),
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    acks.acked(ack.pkid);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.failed(e)),
                Err(_) => {
                    let why = format!(
                        "{} of {total} publishes not acknowledged within {ACK_TIMEOUT:?}",
                        acks.left()
                    );
                    return Err(self.failed(why));
                }
            }
        }
        Ok(())
    }

    /// Handles what the connection has for us (PINGRESP, a broker closing it) without waiting.
    fn keep_up(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        loop {
            match session.connection.recv_timeout(Duration::from_millis(1)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    let why = self.failed(e);
                    tracing::debug!(error = %why, "MQTT connection closed while idle");
                    return;
                }
                Err(_) => return,
            }
        }
    }
}

impl Sink for Mqtt {
    fn send(&mut self, view: &View) -> (usize, Sent) {
        let samples = view.samples();
        if let Err(e) = self.connect() {
            return (0, Sent::Failed(e));
        }
        let prefix = self.broker.prefix.clone();
        let mut messages = Vec::new();
        let mut announcing = Vec::new();
        let mut coming_online: Vec<&str> = Vec::new();
        let mut taken = 0;
        for s in samples {
            let series = (s.sensor.clone(), s.metric.clone());
            let announce = !self.announced.contains(&series) && !announcing.contains(&series);
            let online = !self
                .sensors
                .get(&s.sensor)
                .is_some_and(|k| k.online && k.told)
                && !coming_online.contains(&&*s.sensor);
            if messages.len() + 1 + usize::from(announce) + usize::from(online) > BATCH_PUBLISHES {
                break;
            }
            if announce {
                messages.push(discovery(&prefix, &s.sensor, s.name.as_deref(), &s.metric));
                announcing.push(series);
            }
            if online {
                messages.push((availability_topic(&prefix, &s.sensor), "online".into()));
                coming_online.push(&s.sensor);
            }
            messages.push((
                state_topic(&prefix, &s.sensor, &s.metric),
                format!("{}", s.value),
            ));
            taken += 1;
        }
        if let Err(e) = self.deliver(messages) {
            return (0, Sent::Failed(e));
        }
        self.announced.extend(announcing);
        for s in &samples[..taken] {
            let seen = self.sensors.entry(s.sensor.clone()).or_default();
            seen.online = true;
            seen.told = true;
            if seen.times.back().is_none_or(|t| *t < s.measured_at) {
                seen.times.push_back(s.measured_at);
                if seen.times.len() > TIMES_KEPT {
                    seen.times.pop_front();
                }
            }
        }
        (taken, Sent::Accepted)
    }

    fn idle(&mut self) {
        self.keep_up();
        let now = now_ms();
        // Sensors gone stale, and those offline that a new session has not been told of.
        let stale: Vec<Arc<str>> = self
            .sensors
            .iter()
            .filter(|(_, k)| {
                let times: Vec<Millis> = k.times.iter().copied().collect();
                let last = times.last().copied().unwrap_or(now);
                if k.online {
                    is_stale(now - last, usual_interval(&times))
                } else {
                    !k.told
                }
            })
            .map(|(s, _)| s.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        let messages = stale
            .iter()
            .map(|s| (availability_topic(&self.broker.prefix, s), "offline".into()))
            .collect();
        match self.deliver(messages) {
            Ok(()) => {
                for sensor in stale {
                    let seen = self.sensors.get_mut(&sensor).expect("listed");
                    if seen.online {
                        tracing::info!(%sensor, "sensor is stale: told MQTT it is offline");
                    }
                    seen.online = false;
                    seen.told = true;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not tell MQTT that stale sensors are offline")
            }
        }
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        if session.client.try_disconnect().is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match session.connection.recv_timeout(left) {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
        }
    }
}
