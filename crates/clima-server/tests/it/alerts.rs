//! Alerts against a real server, with a small HTTP receiver standing in for the webhook: firing
//! after `for`, no flapping inside the hysteresis, resolved, offline by timer, a restart while
//! firing, a webhook down then up, ntfy messages, bad rules, and the stream's `alert` event.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::stream::Events;
use crate::util::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hook {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Hook {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1: answers 200 to every POST and keeps what it got.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Hook>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn start_on(listener: TcpListener) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let kept = kept.clone();
                std::thread::spawn(move || serve(conn, &kept));
            }
        });
        Receiver { port, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn got(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }

    /// Waits up to 20 s for `n` requests in all.
    fn wait_for(&self, n: usize) -> Vec<Hook> {
        let started = Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n || started.elapsed() > Duration::from_secs(20) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads one request per connection (head, then `Content-Length` bytes) and answers 200.
fn serve(conn: TcpStream, kept: &Mutex<Vec<Hook>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    kept.lock().unwrap().push(Hook {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rule(s: &Server, rule: Value) -> i64 {
    let r = post_json(&s.url("/api/v1/alerts/rules"), &rule.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// Posts one reading of `sensor` with `metric` = `value`, measured at `at` (unix ms).
fn reading(s: &Server, sensor: &str, metric: &str, value: f64, at: i64) {
    post_batch(
        s,
        &[json!({"sensor": sensor, metric: value, "measured_at": at}).to_string()],
    );
}

fn alerts(s: &Server) -> Value {
    let r = get(&s.url("/api/v1/alerts"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Waits up to 10 s for `check` to hold on `GET /api/v1/alerts`.
fn wait_alerts(s: &Server, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let a = alerts(s);
        if check(&a) || started.elapsed() > Duration::from_secs(10) {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(hooks: &[Hook]) -> Vec<String> {
    hooks
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn fires_after_for_holds_through_the_hysteresis_and_resolves_once_each() {
    let hook = Receiver::start();
    let ntfy = Receiver::start();
    let ntfy_url = format!("ntfy+{}", ntfy.url("/clima-test"));
    let s = Server::start(&[
        "--alert-webhook",
        &hook.url("/hook"),
        "--alert-webhook",
        &ntfy_url,
    ]);
    post_batch(
        &s,
        &[json!({"sensor": "bath", "name": "Bathroom", "humidity": 50}).to_string()],
    );
    let id = rule(
        &s,
        json!({"sensor": "bath", "metric": "humidity", "condition": "above", "threshold": 70, "for": "5s", "label": "Mould risk"}),
    );
    let t = now() - 20_000;
    // Above, broken by one reading at the line, above again: held 5 s only from t + 4 s.
    for (dt, v) in [(0, 71.0), (2_000, 70.0), (4_000, 72.0), (8_000, 73.0)] {
        reading(&s, "bath", "humidity", v, t + dt);
    }
    let a = wait_alerts(&s, |a| a["active"][0]["since"] == t + 4_000);
    assert_eq!(a["active"][0]["state"], "pending", "{a}");
    assert_eq!(a["active"][0]["since"], t + 4_000);
    reading(&s, "bath", "humidity", 72.5, t + 9_000);
    let a = wait_alerts(&s, |a| a["active"][0]["state"] == "firing");
    let firing = &a["active"][0];
    assert_eq!(firing["rule_id"], id);
    assert_eq!(firing["sensor"], "bath");
    assert_eq!(firing["name"], "Bathroom");
    assert_eq!(firing["metric"], "humidity");
    assert_eq!(firing["since"], t + 4_000);
    assert_eq!(firing["value"], 72.5);
    assert_eq!(firing["reason"], "humidity above 70 % for 5s: 72.5 %");
    // Wobbling within 1.4 (2 % of 70) below the line does not clear it.
    for (dt, v) in [(10_000, 69.0), (11_000, 70.5), (12_000, 68.7)] {
        reading(&s, "bath", "humidity", v, t + dt);
    }
    reading(&s, "bath", "humidity", 68.6, t + 13_000);
    let a = wait_alerts(&s, |a| {
        a["history"].as_array().is_some_and(|h| h.len() == 2)
    });
    assert_eq!(a["active"], json!([]), "{a}");
    let history: Vec<(&str, i64)> = a["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["state"].as_str().unwrap(), h["at"].as_i64().unwrap()))
        .collect();
    assert_eq!(history, [("ok", t + 13_000), ("firing", t + 9_000)]);

    let got = hook.wait_for(2);
    assert_eq!(events(&got), ["firing", "resolved"], "{got:?}");
    let first = got[0].json();
    assert_eq!(first["rule_id"], id);
    assert_eq!(first["rule"], "Mould risk");
    assert_eq!(first["sensor"], "bath");
    assert_eq!(first["name"], "Bathroom");
    assert_eq!(first["metric"], "humidity");
    assert_eq!(first["value"], 72.5);
    assert_eq!(first["threshold"], 70.0);
    assert!(first["since"].as_str().unwrap().ends_with('Z'), "{first}");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hook.got().len(), 2, "one notice per transition");

    let told = ntfy.wait_for(2);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[0].path, "/clima-test");
    assert_eq!(told[0].header("title"), Some("Bathroom: Mould risk"));
    assert_eq!(told[0].header("priority"), Some("4"));
    assert_eq!(told[0].header("tags"), Some("warning"));
    assert!(
        told[0]
            .body
            .starts_with("Bathroom: Mould risk (humidity 72.5 %) since "),
        "{}",
        told[0].body
    );
    assert_eq!(
        told[1].header("title"),
        Some("Resolved: Bathroom: Mould risk")
    );
    assert_eq!(told[1].header("tags"), Some("white_check_mark"));
}

#[test]
fn a_bad_rule_is_a_422_naming_the_field_and_rules_can_be_edited() {
    let s = Server::start(&[]);
    for (body, field) in [
        (
            json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1000, "for": "ten minutes"}),
            "for",
        ),
        (
            json!({"sensor": "*", "metric": "co2", "condition": "above"}),
            "threshold",
        ),
        (
            json!({"sensor": "*", "metric": "co2", "condition": "sideways", "threshold": 1}),
            "condition",
        ),
        (
            json!({"sensor": "no spaces", "metric": "co2", "condition": "above", "threshold": 1}),
            "sensor",
        ),
        (
            json!({"sensor": "*", "metric": "co2", "condition": "rising", "amount": 50}),
            "window",
        ),
    ] {
        let r = post_json(&s.url("/api/v1/alerts/rules"), &body.to_string());
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["error"], "invalid_rule");
        assert_eq!(r.json()["field"], field, "{}", r.body);
        assert!(r.json()["message"].as_str().unwrap().starts_with(field));
    }
    let r = post_json(&s.url("/api/v1/alerts/rules"), "{not json");
    assert_eq!(r.status, 400, "{}", r.body);

    let id = rule(
        &s,
        json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1000, "for": "10m"}),
    );
    let listed = get(&s.url("/api/v1/alerts/rules")).json();
    assert_eq!(listed["rules"][0]["id"], id);
    assert_eq!(listed["rules"][0]["for"], "10m");
    let put = |id: i64, body: Value| {
        call(
            "PUT",
            &s.url(&format!("/api/v1/alerts/rules/{id}")),
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    };
    let r = put(
        id,
        json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1200, "for": "5m"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&s.url("/api/v1/alerts/rules")).json()["rules"][0]["threshold"],
        1200.0
    );
    let r = put(
        id,
        json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1200, "for": 5}),
    );
    assert_eq!((r.status, r.json()["field"].clone()), (422, json!("for")));
    assert_eq!(
        put(id + 100, json!({"sensor": "*", "condition": "offline"})).status,
        404
    );
    let presets = get(&s.url("/api/v1/alerts/presets")).json();
    let ids: Vec<&str> = presets["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "mould",
            "condensation",
            "freeze",
            "server_heat",
            "ventilate",
            "offline"
        ]
    );
    assert_eq!(presets["presets"][0]["rule"]["threshold"], 70.0);
    let r = call(
        "DELETE",
        &s.url(&format!("/api/v1/alerts/rules/{id}")),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&s.url("/api/v1/alerts/rules")).json()["rules"],
        json!([])
    );
    assert_eq!(
        call(
            "DELETE",
            &s.url(&format!("/api/v1/alerts/rules/{id}")),
            &[],
            None
        )
        .status,
        404
    );
}

#[test]
fn a_silent_sensor_goes_offline_by_timer_and_back() {
    let hook = Receiver::start();
    let s = Server::start(&["--alert-webhook", &hook.url("/")]);
    rule(
        &s,
        json!({"sensor": "shed", "condition": "offline", "for": "2s"}),
    );
    let heard = now();
    post_batch(
        &s,
        &[json!({"sensor": "shed", "temperature": 4}).to_string()],
    );
    let a = wait_alerts(&s, |a| a["active"][0]["state"] == "firing");
    let offline = &a["active"][0];
    assert_eq!(offline["sensor"], "shed");
    assert_eq!(offline["metric"], "");
    assert_eq!(offline["reason"], "no reading for 2s");
    let fired = hook.wait_for(1);
    assert_eq!(events(&fired), ["firing"]);
    let since = offline["since"].as_i64().unwrap();
    assert!(
        (since - heard).abs() < 1_000,
        "offline since it was last heard: {a}"
    );
    post_batch(
        &s,
        &[json!({"sensor": "shed", "temperature": 4}).to_string()],
    );
    let got = hook.wait_for(2);
    assert_eq!(events(&got), ["firing", "resolved"]);
}

#[test]
fn a_restart_while_firing_neither_notifies_again_nor_forgets() {
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let url = hook.url("/");
    let s = Server::start_on(&db, &["--alert-webhook", &url]);
    rule(
        &s,
        json!({"sensor": "*", "metric": "temperature", "condition": "above", "threshold": 30, "for": "1s"}),
    );
    let t = now() - 5_000;
    reading(&s, "rack", "temperature", 31.0, t);
    reading(&s, "rack", "temperature", 32.0, t + 2_000);
    assert_eq!(events(&hook.wait_for(1)), ["firing"]);
    assert!(s.terminate().success());

    let s = Server::start_on(&db, &["--alert-webhook", &url]);
    let a = alerts(&s);
    assert_eq!(a["active"][0]["state"], "firing", "{a}");
    assert_eq!(a["active"][0]["since"], t);
    reading(&s, "rack", "temperature", 33.0, t + 3_000);
    reading(&s, "rack", "temperature", 34.0, t + 4_000);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(hook.got().len(), 1, "no second notice after the restart");
    reading(&s, "rack", "temperature", 20.0, t + 4_500);
    assert_eq!(events(&hook.wait_for(2)), ["firing", "resolved"]);
}

#[test]
fn a_webhook_down_then_up_gets_every_notice_in_order() {
    // A port with nothing listening yet: connections are refused until the receiver starts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let s = Server::start(&["--alert-webhook", &format!("http://127.0.0.1:{port}/down")]);
    rule(
        &s,
        json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1000}),
    );
    let t = now() - 10_000;
    for (dt, v) in [(0, 1200.0), (1_000, 800.0), (2_000, 1300.0), (3_000, 700.0)] {
        reading(&s, "office", "co2", v, t + dt);
    }
    wait_alerts(&s, |a| {
        a["history"].as_array().is_some_and(|h| h.len() == 4)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.log().contains("webhook delivery failed"), "{}", s.log());
    let hook = Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let got = hook.wait_for(4);
    assert_eq!(events(&got), ["firing", "resolved", "firing", "resolved"]);
    let values: Vec<f64> = got
        .iter()
        .map(|h| h.json()["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [1200.0, 800.0, 1300.0, 700.0]);
}

#[test]
fn the_stream_sends_an_alert_event() {
    let s = Server::start(&[]);
    rule(
        &s,
        json!({"sensor": "*", "metric": "co2", "condition": "above", "threshold": 1000}),
    );
    let mut ev = Events::open(&s);
    post_batch(&s, &[json!({"sensor": "lab", "co2": 1500}).to_string()]);
    let started = Instant::now();
    let alert = loop {
        let (name, data) = ev.next();
        if name == "alert" {
            break serde_json::from_str::<Value>(&data).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no alert event"
        );
    };
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["sensor"], "lab");
    assert_eq!(alert["metric"], "co2");
    assert_eq!(alert["value"], 1500.0);
    assert_eq!(alert["notified"], true);
}

#[test]
fn webhooks_added_in_settings_hide_credentials() {
    let s = Server::start(&["--alert-webhook", "https://user:secret@hooks.example.org/x"]);
    let r = post_json(
        &s.url("/api/v1/alerts/webhooks"),
        &json!({"url": "https://ntfy.sh/clima-home"}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let listed = get(&s.url("/api/v1/alerts/webhooks")).json();
    assert_eq!(
        listed["webhooks"],
        json!([
            {"id": null, "url": "https://***@hooks.example.org/x", "format": "json", "origin": "command-line"},
            {"id": id, "url": "https://ntfy.sh/clima-home", "format": "ntfy", "origin": "settings"}
        ])
    );
    let bad = post_json(
        &s.url("/api/v1/alerts/webhooks"),
        &json!({"url": "https://ntfy.sh/a/b"}).to_string(),
    );
    assert_eq!(
        (bad.status, bad.json()["error"].clone()),
        (400, json!("invalid_webhook"))
    );
    let r = call(
        "DELETE",
        &s.url(&format!("/api/v1/alerts/webhooks/{id}")),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&s.url("/api/v1/alerts/webhooks")).json()["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_alert_names_the_sensor_as_it_was_renamed_on_the_dashboard() {
    let hook = Receiver::start();
    let s = Server::start(&["--alert-webhook", &hook.url("/hook")]);
    post_batch(
        &s,
        &[json!({"sensor": "bath", "name": "Bathroom", "humidity": 50}).to_string()],
    );
    let renamed = post_json(
        &s.url("/api/v1/sensors/name"),
        &json!({"sensor": "bath", "name": "Upstairs bath"}).to_string(),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    rule(
        &s,
        json!({"sensor": "bath", "metric": "humidity", "condition": "above", "threshold": 70, "for": "1s"}),
    );
    let t = now() - 5_000;
    for (dt, v) in [(0, 75.0), (2_000, 76.0)] {
        reading(&s, "bath", "humidity", v, t + dt);
    }
    let a = wait_alerts(&s, |a| a["active"][0]["state"] == "firing");
    assert_eq!(a["active"][0]["name"], "Upstairs bath", "{a}");
    let got = hook.wait_for(1);
    assert_eq!(got[0].json()["name"], "Upstairs bath");
}

#[test]
fn a_rule_changed_or_deleted_while_firing_tells_its_alert_resolved() {
    let hook = Receiver::start();
    let s = Server::start(&["--alert-webhook", &hook.url("/")]);
    let body =
        json!({"sensor": "*", "metric": "temperature", "condition": "above", "threshold": 30});
    let id = rule(&s, body.clone());
    let t = now() - 5_000;
    reading(&s, "rack", "temperature", 31.0, t);
    assert_eq!(events(&hook.wait_for(1)), ["firing"]);

    // Changed: its firing alert ends, told resolved, and the rule starts over from ok (the
    // next reading, above the new line too, fires again).
    let changed =
        json!({"sensor": "*", "metric": "temperature", "condition": "above", "threshold": 29});
    let r = call(
        "PUT",
        &s.url(&format!("/api/v1/alerts/rules/{id}")),
        &[("Content-Type", "application/json")],
        Some(changed.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = hook.wait_for(2);
    assert_eq!(events(&got), ["firing", "resolved"], "{got:?}");
    assert_eq!(
        got[1].json()["rule"],
        "temperature above 30 °C",
        "named as it was"
    );
    let a = alerts(&s);
    assert_eq!(a["active"], json!([]), "{a}");
    assert_eq!(a["history"][0]["state"], "ok", "{a}");
    assert_eq!(a["history"][0]["notified"], true, "{a}");
    reading(&s, "rack", "temperature", 31.0, t + 1_000);
    assert_eq!(events(&hook.wait_for(3)), ["firing", "resolved", "firing"]);

    // Deleted: the same.
    let r = call(
        "DELETE",
        &s.url(&format!("/api/v1/alerts/rules/{id}")),
        &[],
        None,
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.body);
    assert_eq!(
        events(&hook.wait_for(4)),
        ["firing", "resolved", "firing", "resolved"]
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hook.got().len(), 4, "one notice per transition");
    assert_eq!(alerts(&s)["active"], json!([]));
}

#[test]
fn a_sensors_usual_interval_outlives_a_restart_for_offline_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &[]);
    // Offline after three usual intervals: none is given.
    rule(&s, json!({"sensor": "*", "condition": "offline"}));
    // Four readings measured 400 ms apart: the usual interval is 400 ms.
    let t = now();
    post_batch(
        &s,
        &(0..4)
            .map(|i| {
                json!({"sensor": "porch", "temperature": 5, "measured_at": t - 1_600 + i * 400})
                    .to_string()
            })
            .collect::<Vec<_>>(),
    );
    let a = wait_alerts(&s, |a| a["active"][0]["state"] == "firing");
    assert_eq!(a["active"][0]["sensor"], "porch", "{a}");
    // Kept in the store at the evaluation's next tick.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(s.terminate().success());

    // After the restart one reading is all there is: no interval can be learned from it, yet
    // the sensor goes offline again three kept intervals after it.
    let s = Server::start_on(&db, &[]);
    post_batch(
        &s,
        &[json!({"sensor": "porch", "temperature": 5}).to_string()],
    );
    let a = wait_alerts(&s, |a| {
        a["history"]
            .as_array()
            .is_some_and(|h| h.first().is_some_and(|h| h["state"] == "ok"))
    });
    assert_eq!(a["history"][0]["sensor"], "porch", "heard again: {a}");
    let a = wait_alerts(&s, |a| a["active"][0]["state"] == "firing");
    assert_eq!(a["active"][0]["sensor"], "porch", "offline again: {a}");
    assert_eq!(a["active"][0]["metric"], "", "{a}");
}
