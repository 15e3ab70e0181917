//! An MQTT broker as a forwarder's target: each series' state retained at
//! `PREFIX/SENSOR/METRIC` with QoS 1, Home Assistant discovery for each series the first time
//! it is sent in a run, and each sensor's availability following the dashboard's stale rule.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::forward::{
    availability_topic, discovery, is_stale, state_topic, usual_interval, Sample,
};
use clima_model::Millis;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use super::target::Broker;
use super::worker::{Sent, Sink};
use crate::now_ms;

/// Samples per batch: each is one publish awaiting its acknowledgement.
const BATCH: usize = 500;
/// How long a batch may wait for the broker's acknowledgements.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Recent times kept per sensor to learn its usual interval.
const TIMES_KEPT: usize = 16;

enum Note {
    Acked,
    Failed(String),
}

#[derive(Default)]
struct Seen {
    times: VecDeque<Millis>,
    online: bool,
}

pub(super) struct Mqtt {
    broker: Broker,
    client: Client,
    notes: mpsc::Receiver<Note>,
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    events: Option<JoinHandle<()>>,
    /// Series whose discovery config the broker acknowledged in this run.
    announced: HashSet<(String, String)>,
    sensors: HashMap<String, Seen>,
}

impl Mqtt {
    pub(super) fn new(broker: Broker, id: i64) -> Mqtt {
        let mut opts = MqttOptions::new(
            format!("clima-{}-{id}", std::process::id()),
            broker.host.clone(),
            broker.port,
        );
        opts.set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = &broker.login {
            opts.set_credentials(user.clone(), password.expose().to_owned());
        }
        let (client, mut connection) = Client::new(opts, 2 * BATCH + 64);
        let (tx, notes) = mpsc::channel();
        let connected = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (up, stopping) = (connected.clone(), stop.clone());
        // The client's event loop runs on its own thread: it connects, reconnects and reads the
        // broker's acknowledgements while the forwarder publishes.
        let events = std::thread::Builder::new()
            .name("clima-mqtt".into())
            .spawn(move || {
                for event in connection.iter() {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            up.store(true, Ordering::Release)
                        }
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            let _ = tx.send(Note::Acked);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            up.store(false, Ordering::Release);
                            let _ = tx.send(Note::Failed(format!("MQTT broker: {e}")));
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            })
            .expect("spawning the MQTT event thread");
        Mqtt {
            broker,
            client,
            notes,
            connected,
            stop,
            events: Some(events),
            announced: HashSet::new(),
            sensors: HashMap::new(),
        }
    }

    fn publish(&self, topic: String, payload: String) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .map_err(|e| format!("MQTT client: {e}"))
    }

    /// Waits for `n` acknowledgements, or the first failure.
    fn acked(&self, n: usize) -> Result<(), String> {
        let deadline = Instant::now() + ACK_TIMEOUT;
        for _ in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.notes.recv_timeout(left) {
                Ok(Note::Acked) => {}
                Ok(Note::Failed(e)) => return Err(e),
                Err(_) => {
                    return Err(format!(
                        "the MQTT broker did not acknowledge within {ACK_TIMEOUT:?}"
                    ))
                }
            }
        }
        Ok(())
    }
}

impl Sink for Mqtt {
    fn send(&mut self, samples: &[Sample]) -> (usize, Sent) {
        // Acknowledgements left from a failed batch must not count for this one.
        while self.notes.try_recv().is_ok() {}
        if !self.connected.load(Ordering::Acquire) {
            return (
                0,
                Sent::Failed(format!(
                    "not connected to the MQTT broker at {}:{}",
                    self.broker.host, self.broker.port
                )),
            );
        }
        let batch = &samples[..samples.len().min(BATCH)];
        let prefix = self.broker.prefix.clone();
        let mut expected = 0;
        let mut announcing = Vec::new();
        let mut coming_online = Vec::new();
        let outcome = (|| {
            for s in batch {
                let series = (s.sensor.clone(), s.metric.clone());
                if !self.announced.contains(&series) && !announcing.contains(&series) {
                    let (topic, config) =
                        discovery(&prefix, &s.sensor, s.name.as_deref(), &s.metric);
                    self.publish(topic, config)?;
                    announcing.push(series);
                    expected += 1;
                }
                if !self.sensors.get(&s.sensor).is_some_and(|k| k.online)
                    && !coming_online.contains(&s.sensor)
                {
                    self.publish(availability_topic(&prefix, &s.sensor), "online".into())?;
                    coming_online.push(s.sensor.clone());
                    expected += 1;
                }
                self.publish(
                    state_topic(&prefix, &s.sensor, &s.metric),
                    format!("{}", s.value),
                )?;
                expected += 1;
            }
            self.acked(expected)
        })();
        if let Err(e) = outcome {
            return (0, Sent::Failed(e));
        }
        self.announced.extend(announcing);
        for s in batch {
            let seen = self.sensors.entry(s.sensor.clone()).or_default();
            seen.online = true;
            if seen.times.back().is_none_or(|t| *t < s.measured_at) {
                seen.times.push_back(s.measured_at);
                if seen.times.len() > TIMES_KEPT {
                    seen.times.pop_front();
                }
            }
        }
        (batch.len(), Sent::Accepted)
    }

    fn idle(&mut self) {
        let now = now_ms();
        let stale: Vec<String> = self
            .sensors
            .iter()
            .filter(|(_, k)| k.online)
            .filter(|(_, k)| {
                let times: Vec<Millis> = k.times.iter().copied().collect();
                let last = times.last().copied().unwrap_or(now);
                is_stale(now - last, usual_interval(&times))
            })
            .map(|(s, _)| s.clone())
            .collect();
        for sensor in stale {
            let topic = availability_topic(&self.broker.prefix, &sensor);
            if self.publish(topic, "offline".into()).is_ok() {
                tracing::info!(%sensor, "sensor is stale: told MQTT it is offline");
                self.sensors.get_mut(&sensor).expect("listed").online = false;
            }
        }
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.client.disconnect();
        if let Some(t) = self.events.take() {
            let _ = t.join();
        }
    }
}
