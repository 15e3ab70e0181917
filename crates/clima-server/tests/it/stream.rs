//! The live stream: a quiet reading goes out at once, a burst is coalesced to at most one event
//! per interval, and the newest value always arrives.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;

pub(crate) struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub(crate) fn open(s: &Server) -> Events {
        let mut stream = TcpStream::connect(s.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .unwrap();
        let mut ev = Events {
            reader: BufReader::new(stream),
        };
        let (name, _) = ev.next();
        assert_eq!(name, "hello");
        ev
    }

    /// The next event's name and data, skipping headers and comments.
    pub(crate) fn next(&mut self) -> (String, String) {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "stream ended"
            );
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = d.to_owned();
            } else if line.is_empty() && !name.is_empty() {
                return (name, data);
            }
        }
    }
}

fn readings(data: &str) -> Vec<(String, f64)> {
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    v["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["sensor"].as_str().unwrap(),
                    r["metric"].as_str().unwrap()
                ),
                r["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn coalesces_bursts_and_keeps_the_newest() {
    // A long interval, so that "at once" and "coalesced" stay far apart on a busy machine.
    let interval = Duration::from_millis(2_000);
    let s = Server::start(&["--throttle-ms", "2000", "--rate-limit", "off"]);
    let mut events = Events::open(&s);
    let url = s.url("/api/v1/readings");

    // A reading after a quiet time goes out at once, not at the end of an interval.
    let sent = Instant::now();
    post_json(&url, r#"{"sensor":"a","temperature":1}"#);
    let (name, data) = events.next();
    assert_eq!(name, "readings");
    assert_eq!(readings(&data), vec![("a/temperature".to_owned(), 1.0)]);
    assert!(
        sent.elapsed() < interval / 2,
        "quiet reading took {:?}",
        sent.elapsed()
    );

    // A burst arrives as few events, at most one per interval, ending with the newest value of
    // each series. Counted against the time the burst and its events took here, so a slow
    // machine only loosens the bound, never breaks it.
    let burst = Instant::now();
    for i in 2..=40 {
        post_json(&url, &format!(r#"{{"sensor":"a","temperature":{i}}}"#));
        post_json(&url, &format!(r#"{{"sensor":"b","humidity":{i}}}"#));
    }
    let mut last: std::collections::BTreeMap<String, f64> = Default::default();
    let mut count = 0u32;
    while last.get("a/temperature") != Some(&40.0) || last.get("b/humidity") != Some(&40.0) {
        let (_, data) = events.next();
        count += 1;
        last.extend(readings(&data));
    }
    // The first event may go at once, the rest at most one per interval after the first.
    let allowed = 1 + (burst.elapsed().as_millis() / interval.as_millis()) as u32 + 1;
    assert!(
        count <= allowed,
        "{count} events for a burst of {:?}: more than one per interval",
        burst.elapsed()
    );
}
