//! The checks every request passes before its handler, in order: the `Host` it names (DNS
//! rebinding), the per-address rate limit, the `Origin` it comes from (cross-site requests), and
//! for the API the token. Each check is a plain function; the middleware only applies them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::reply::Reply;
use super::request::{client_ip, credential_from_header, header, headers, query_pairs};
use super::server::Peer;
use super::Front;

/// The client's address (after trusted proxies), for handlers that name sensors by it.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

/// The host names this server answers to. Addresses are always accepted: DNS rebinding needs a
/// name, and devices often send a bare address (or, over HTTP/1.0, no `Host` at all).
#[derive(Debug, Clone, Default)]
pub struct HostCheck {
    names: Vec<String>,
}

impl HostCheck {
    /// Loopback names, this machine's host name and its `.local` name, and `extra`.
    pub fn new(extra: &[String]) -> HostCheck {
        let mut names: Vec<String> = vec!["localhost".into()];
        if let Some(h) = hostname::get().ok().and_then(|h| h.into_string().ok()) {
            let h = h.to_ascii_lowercase();
            let short = h.split('.').next().unwrap_or(&h).to_owned();
            names.push(format!("{short}.local"));
            names.push(short);
            names.push(h);
        }
        names.extend(
            extra
                .iter()
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase()),
        );
        names.sort();
        names.dedup();
        HostCheck { names }
    }

    /// Whether a request naming `host` (a `Host` header value, port and all) is for us.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
            return true;
        };
        let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        name.ends_with(".localhost") || self.names.contains(&name)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The name or address of a `Host` value or an origin's authority, without port or brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority,
    }
}

/// Whether an `Origin` header names the origin this request was sent to (the dashboard
/// calling its own server). The `Host` has passed [`HostCheck`] already.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let authority = origin
        .trim()
        .strip_prefix("http://")
        .or_else(|| origin.trim().strip_prefix("https://"));
    match (authority, host) {
        (Some(a), Some(h)) => a.eq_ignore_ascii_case(h.trim()),
        _ => false,
    }
}

/// Whether the user allowed `origin` with `--cors-origin`.
pub fn cors_listed(origin: &str, cors: &[String]) -> bool {
    cors.iter()
        .any(|c| c.trim_end_matches('/').eq_ignore_ascii_case(origin.trim()))
}

/// Host, rate limit and origin, for every request; `/healthz` skips the rate limit.
pub async fn gate(State(front): State<Arc<Front>>, mut req: Request, next: Next) -> Response {
    let h = req.headers();
    let host = header(h, "Host");
    if !front.hosts.allows(host) {
        return Reply::error(
            421,
            "host_not_allowed",
            format!(
                "this server does not answer to {:?}: open it by its address or as one of {}, or start it with --allow-host NAME",
                host.unwrap_or(""),
                front.hosts.names().join(", ")
            ),
        )
        .into_response();
    }
    let peer = req
        .extensions()
        .get::<Peer>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |p| p.0.ip());
    let client = client_ip(peer, &headers(h, "X-Forwarded-For"), &front.trusted_proxies);
    if req.uri().path() != "/healthz" {
        if let Some(limiter) = &front.limiter {
            if let Err(wait) = limiter.check(client) {
                front
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                return Reply::error(
                    429,
                    "rate_limited",
                    format!(
                        "too many requests from {client}: retry in {secs} s, or raise --rate-limit"
                    ),
                )
                .with_header("Retry-After", secs.to_string())
                .into_response();
            }
        }
    }
    let mut cors = None;
    if let Some(origin) = header(h, "Origin") {
        if cors_listed(origin, &front.cors_origins) {
            cors = Some(origin.to_owned());
        } else if !same_origin(origin, host) && !carries_token(&front, h) {
            return Reply::error(
                403,
                "foreign_origin",
                format!(
                    "requests from the web page at {origin} are refused: Clima answers its own dashboard and devices; to allow another dashboard, start Clima with --cors-origin {origin}"
                ),
            )
            .into_response();
        }
    }
    if let (Some(origin), &Method::OPTIONS) = (&cors, req.method()) {
        return with_cors(Reply::empty(204).into_response(), origin, true);
    }
    req.extensions_mut().insert(Client(client));
    let response = next.run(req).await;
    match cors {
        Some(origin) => with_cors(response, &origin, false),
        None => response,
    }
}

/// Whether the request authenticates in its `Authorization` header. A browser cannot send that
/// header cross-site without a preflight, which is never granted to a foreign origin, so a
/// request that has it comes from a program.
fn carries_token(front: &Front, h: &HeaderMap) -> bool {
    front.api.token().is_some()
        && front.api.token_allows(
            header(h, "Authorization")
                .and_then(credential_from_header)
                .as_deref(),
        )
}

fn with_cors(mut r: Response, origin: &str, preflight: bool) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = origin.parse() {
        h.insert("access-control-allow-origin", v);
    }
    h.append("vary", axum::http::HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(
            "access-control-allow-methods",
            axum::http::HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            "access-control-allow-headers",
            axum::http::HeaderValue::from_static("Authorization, Content-Type, Content-Encoding"),
        );
        h.insert(
            "access-control-max-age",
            axum::http::HeaderValue::from_static("600"),
        );
    }
    r
}

/// Logs each request by method, path (never the query, which may hold a token) and status.
pub async fn log(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    *front
        .replies
        .lock()
        .expect("reply counts")
        .entry(status)
        .or_default() += 1;
    if status >= 500 {
        tracing::warn!(%method, %path, status, "request failed");
    } else {
        tracing::debug!(%method, %path, status, micros = started.elapsed().as_micros() as u64, "request");
    }
    response
}

/// The token, for the API's routes (not `/healthz` or `/ping`, not the dashboard's files).
pub async fn token(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    let pairs = query_pairs(req.uri().query().unwrap_or(""));
    let token = front.api.token();
    if let Err(reply) = super::request::authorize(req.headers(), &pairs, token.as_ref()) {
        return reply.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let check = HostCheck {
            names: vec![
                "localhost".into(),
                "lab-pc".into(),
                "lab-pc.local".into(),
                "clima.example".into(),
            ],
        };
        for ok in [
            None,
            Some(""),
            Some("127.0.0.1:8137"),
            Some("192.168.1.20"),
            Some("[::1]:8137"),
            Some("localhost:8137"),
            Some("LOCALHOST"),
            Some("app.localhost:1"),
            Some("lab-pc.local:8137"),
            Some("clima.example."),
        ] {
            assert!(check.allows(ok), "{ok:?}");
        }
        for bad in [
            Some("evil.example:8137"),
            Some("localhost.evil.example"),
            Some("lab-pc.evil"),
            Some("127.0.0.1.nip.io"),
        ] {
            assert!(!check.allows(bad), "{bad:?}");
        }
    }

    #[test]
    fn origins() {
        let cors = vec!["https://grafana.lab".to_owned()];
        assert!(same_origin("http://127.0.0.1:8137", Some("127.0.0.1:8137")));
        assert!(same_origin("http://LOCALHOST:8137", Some("localhost:8137")));
        assert!(!same_origin("http://evil.example", Some("127.0.0.1:8137")));
        assert!(!same_origin(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8137")
        ));
        assert!(!same_origin("null", Some("127.0.0.1:8137")));
        assert!(!same_origin("http://127.0.0.1:8137", None));
        assert!(cors_listed("https://grafana.lab", &cors));
        assert!(cors_listed(
            "https://grafana.lab",
            &["https://grafana.lab/".to_owned()]
        ));
        assert!(!cors_listed("https://grafana.lab.evil", &cors));
        assert!(!cors_listed("http://127.0.0.1:8137", &[]));
    }
}
