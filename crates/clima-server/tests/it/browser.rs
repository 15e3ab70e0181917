//! A web page the user visits must not reach Clima: every route family refuses a foreign
//! `Origin` and a foreign `Host` (DNS rebinding), and still answers devices and the dashboard.

use std::net::{IpAddr, Ipv4Addr};

use crate::util::{call, get, raw_from, Server};

const EVIL: &str = "http://evil.example";

/// Whether the server has a sensor named `evil` (what every forged request tried to store).
fn evil_stored(s: &Server, token: Option<&str>) -> bool {
    let auth = token.map(|t| format!("Bearer {t}")).unwrap_or_default();
    let headers: Vec<(&str, &str)> = token
        .map(|_| ("Authorization", auth.as_str()))
        .into_iter()
        .collect();
    let r = call("GET", &s.url("/api/v1/sensors"), &headers, None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["sensor"] == "evil")
}

/// Each route family, as a device or the dashboard sends it: method, path, content type, body.
fn families() -> Vec<(
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
)> {
    vec![
        (
            "POST",
            "/api/v1/readings",
            Some("application/json"),
            r#"{"sensor":"evil","temperature":66}"#,
        ),
        (
            "POST",
            "/write",
            Some("text/plain"),
            "climate,sensor=evil temperature=66",
        ),
        (
            "POST",
            "/api/v2/write?org=o&bucket=b",
            Some("text/plain"),
            "climate,sensor=evil temperature=66",
        ),
        ("POST", "/api/v1/push?id=evil&temp=66", None, ""),
        ("GET", "/api/v1/push?id=evil&temp=66", None, ""),
        ("POST", "/api/v1/demo", None, ""),
        ("GET", "/api/v1/ports", None, ""),
        (
            "POST",
            "/api/v1/ports/release",
            Some("application/json"),
            r#"{"id":"nope"}"#,
        ),
        ("POST", "/api/v1/token/regenerate", None, ""),
        ("GET", "/api/v1/sensors", None, ""),
        (
            "GET",
            "/api/v1/readings?sensor=kitchen&metric=temperature",
            None,
            "",
        ),
        (
            "GET",
            "/api/v1/chart.svg?sensor=kitchen&metric=temperature",
            None,
            "",
        ),
        (
            "GET",
            "/api/v1/export.csv?sensor=kitchen&metric=temperature",
            None,
            "",
        ),
        (
            "GET",
            "/api/v1/export.png?sensor=kitchen&metric=temperature",
            None,
            "",
        ),
        ("GET", "/api/v1/stream", None, ""),
        ("GET", "/", None, ""),
        ("GET", "/js/app.js", None, ""),
    ]
}

fn send(
    s: &Server,
    method: &str,
    path: &str,
    media: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> u16 {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(m) = media {
        headers.push(("Content-Type", m));
    }
    let body = (method == "POST").then_some(body.as_bytes());
    // A stream never ends: only its status line is wanted, so read it raw.
    if path == "/api/v1/stream" {
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            s.addr
        );
        for (k, v) in extra {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        return raw_status(s, &request);
    }
    call(method, &s.url(path), &headers, body).status
}

/// The status of a raw request, read from its first line only.
fn raw_status(s: &Server, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    String::from_utf8_lossy(&first[9..12]).parse().unwrap()
}

#[test]
fn a_foreign_origin_is_refused_on_every_route_and_devices_are_not() {
    let s = Server::start(&["--serial", "off", "--rate-limit", "off"]);
    assert_eq!(
        call(
            "POST",
            &s.url("/api/v1/readings"),
            &[("Content-Type", "application/json")],
            Some(br#"{"sensor":"kitchen","temperature":21}"#)
        )
        .status,
        201
    );
    for (method, path, media, body) in families() {
        let status = send(&s, method, path, media, body, &[("Origin", EVIL)]);
        assert_eq!(status, 403, "{method} {path} from {EVIL}");
        // A page that says nothing of where it comes from is refused the same way.
        let status = send(&s, method, path, media, body, &[("Origin", "null")]);
        assert_eq!(status, 403, "{method} {path} from a null origin");
    }
    assert!(!evil_stored(&s, None), "a foreign page stored a reading");
    let sensors = get(&s.url("/api/v1/sensors")).json();
    assert!(
        !sensors.to_string().contains("evil") && !sensors.to_string().contains("demo-board"),
        "{sensors}"
    );

    // The dashboard calling its own server, and devices (no Origin), are served.
    let own = format!("http://{}", s.addr);
    let r = call(
        "POST",
        &s.url("/api/v1/readings"),
        &[("Content-Type", "application/json"), ("Origin", &own)],
        Some(br#"{"sensor":"kitchen","temperature":22}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        send(&s, "GET", "/api/v1/sensors", None, "", &[("Origin", &own)]),
        200
    );
    assert_eq!(
        send(
            &s,
            "POST",
            "/write",
            Some("text/plain"),
            "climate,sensor=dev temperature=20",
            &[]
        ),
        204
    );
    assert_eq!(
        send(&s, "GET", "/api/v1/push?id=dev2&temp=20", None, "", &[]),
        200
    );
    assert_eq!(send(&s, "GET", "/api/v1/stream", None, "", &[]), 200);
    assert_eq!(
        send(&s, "GET", "/api/v1/stream", None, "", &[("Origin", &own)]),
        200
    );
    // No CORS headers are granted to anyone by default.
    let r = call("GET", &s.url("/api/v1/sensors"), &[("Origin", &own)], None);
    assert!(r.header("Access-Control-Allow-Origin").is_none());
}

#[test]
fn a_foreign_origin_with_the_token_in_a_header_is_a_program_and_is_served() {
    let token = "s3cret-token-for-origin";
    let s = Server::start(&["--serial", "off", "--token", token]);
    let bearer = format!("Bearer {token}");
    let r = call(
        "POST",
        &s.url("/api/v1/readings"),
        &[
            ("Content-Type", "application/json"),
            ("Origin", EVIL),
            ("Authorization", &bearer),
        ],
        Some(br#"{"sensor":"prog","temperature":21}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The token in the query string is what a page could put in a form: refused.
    let r = call(
        "POST",
        &s.url(&format!("/api/v1/push?id=evil&temp=66&token={token}")),
        &[("Origin", EVIL)],
        Some(b""),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!evil_stored(&s, Some(token)));
}

#[test]
fn an_allowed_cors_origin_gets_its_headers_and_others_do_not() {
    let s = Server::start(&["--serial", "off", "--cors-origin", "https://grafana.lab"]);
    let pre = call(
        "OPTIONS",
        &s.url("/api/v1/sensors"),
        &[
            ("Origin", "https://grafana.lab"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("Access-Control-Allow-Origin"),
        Some("https://grafana.lab")
    );
    let r = call(
        "GET",
        &s.url("/api/v1/sensors"),
        &[("Origin", "https://grafana.lab")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://grafana.lab")
    );
    let evil = call(
        "OPTIONS",
        &s.url("/api/v1/sensors"),
        &[("Origin", EVIL)],
        None,
    );
    assert_eq!(evil.status, 403);
    assert!(evil.header("Access-Control-Allow-Origin").is_none());
}

#[test]
fn a_foreign_host_is_refused_and_addresses_and_own_names_are_not() {
    let s = Server::start(&[
        "--serial",
        "off",
        "--rate-limit",
        "off",
        "--allow-host",
        "clima.lab",
    ]);
    let local: IpAddr = Ipv4Addr::LOCALHOST.into();
    let request = |method: &str, path: &str, host: Option<&str>, body: &str| {
        let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
        let media = if path.starts_with("/write") {
            "text/plain"
        } else {
            "application/json"
        };
        let version = if host.is_empty() {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        raw_from(
            local,
            s.addr,
            &format!(
                "{method} {path} {version}\r\n{host}Content-Type: {media}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let port = s.addr.port();
    for (method, path, _, body) in families() {
        // A page whose domain was re-pointed at 127.0.0.1 names its own domain as the Host.
        let (status, reply) = request(method, path, Some(&format!("evil.example:{port}")), body);
        assert_eq!(status, 421, "{method} {path}: {reply}");
    }
    assert!(!evil_stored(&s, None));
    let reading = r#"{"sensor":"host","temperature":20}"#;
    for host in [
        Some(format!("127.0.0.1:{port}")),
        Some(format!("localhost:{port}")),
        Some("192.168.1.20:8137".to_owned()),
        Some(format!("[::1]:{port}")),
        Some("clima.lab".to_owned()),
        None,
    ] {
        let (status, reply) = request("POST", "/api/v1/readings", host.as_deref(), reading);
        assert_eq!(status, 201, "Host {host:?}: {reply}");
    }
    let (status, _) = request("GET", "/healthz", Some("evil.example"), "");
    assert_eq!(status, 421);
}
