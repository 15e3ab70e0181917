//! What a handler needs from a raw request: its query pairs, headers, credentials and a body
//! read within the size and time limits (and un-gzipped when the client compressed it).

use std::io::Read;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use base64::Engine as _;
use http_body_util::BodyExt as _;

use super::reply::Reply;
use crate::config::Token;
/// Largest request body accepted as sent.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest body once decompressed: a gzip batch may inflate well past what was sent (InfluxDB
/// takes such batches), but a gzip bomb is never inflated past this.
pub const MAX_INFLATED: usize = 32 * MAX_BODY;
/// A body over [`MAX_BODY`] but within this is read and dropped, so that its client gets the
/// 413 instead of a reset connection; a larger one is refused at once and its connection closed.
const DRAIN_MAX: usize = 8 * MAX_BODY;

/// A body read up to the cap.
enum Collected {
    Whole(Vec<u8>),
    /// Over [`MAX_BODY`]; `drained` if it was read to its end within [`DRAIN_MAX`].
    TooLarge {
        drained: bool,
    },
    Failed(String),
}

async fn collect(mut body: Body) -> Collected {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_trailers) => continue,
            },
            Err(e) => return Collected::Failed(e.to_string()),
        };
        seen += data.len();
        if seen > DRAIN_MAX {
            return Collected::TooLarge { drained: false };
        }
        if seen <= MAX_BODY {
            kept.extend_from_slice(&data);
        }
    }
    if seen > MAX_BODY {
        Collected::TooLarge { drained: true }
    } else {
        Collected::Whole(kept)
    }
}

/// Decoded `key=value` pairs of a query string, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The first value of a query parameter.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A header's value as text, if present and readable.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The address a request comes from: the peer's, unless the peer is a trusted proxy, in which
/// case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Entries to
/// the left of that were written by the client and prove nothing.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .rev()
        .map(|hop| hop.trim().parse::<IpAddr>());
    for hop in hops {
        match hop {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A hop we cannot read: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    peer
}

/// Every value of a header, in order.
pub fn headers<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Checks the request's credentials against the token, if one is set.
///
/// Accepted: `Authorization: Bearer T`, `Authorization: Token T` (InfluxDB 2 clients), Basic
/// auth whose password is T (InfluxDB 1 clients such as Telegraf), and `?token=T` or `?p=T` for
/// devices that can only call a URL.
pub fn authorize(
    headers: &HeaderMap,
    pairs: &[(String, String)],
    token: Option<&Token>,
) -> Result<(), Reply> {
    let Some(token) = token else { return Ok(()) };
    let presented = header(headers, "Authorization").and_then(credential_from_header);
    let ok = match presented {
        Some(p) => token.matches(&p),
        None => ["token", "p"]
            .iter()
            .any(|k| param(pairs, k).is_some_and(|v| token.matches(v))),
    };
    if ok {
        Ok(())
    } else {
        Err(Reply::error(
            401,
            "unauthorized",
            "missing or wrong token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN for devices that can only call a URL)",
        )
        .with_header("WWW-Authenticate", "Bearer realm=\"clima\""))
    }
}

pub fn credential_from_header(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        Some(rest.to_owned())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')
            .map(|(_, password)| password.to_owned())
    } else {
        None
    }
}

/// The media type of the body, lower-cased and without parameters; empty if none was sent.
pub fn media_type(headers: &HeaderMap) -> String {
    header(headers, "Content-Type")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Reads the whole body within `timeout`, refusing more than [`MAX_BODY`] bytes as sent and
/// more than [`MAX_INFLATED`] once decompressed.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Vec<u8>, Reply> {
    let too_large = || {
        Reply::error(
            413,
            "body_too_large",
            "request body is over 1 MiB: split it into smaller batches",
        )
        .closing()
    };
    let declared = header(headers, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_MAX as u64) {
        return Err(too_large().closing());
    }
    let gzip = match header(headers, "Content-Encoding").map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => {
            return Err(Reply::error(
                415,
                "unsupported_encoding",
                format!("Content-Encoding {e:?} is not supported: send gzip or no encoding"),
            ))
        }
    };
    let raw = match tokio::time::timeout(timeout, collect(body)).await {
        Err(_elapsed) => {
            return Err(Reply::error(
                408,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s: send it at once, or in smaller batches",
                    timeout.as_secs()
                ),
            )
            .closing())
        }
        Ok(Collected::Whole(raw)) => raw,
        // Read to its end, so the client reads this answer and may keep the connection.
        Ok(Collected::TooLarge { drained: true }) => return Err(too_large()),
        Ok(Collected::TooLarge { drained: false }) => return Err(too_large().closing()),
        Ok(Collected::Failed(e)) => {
            return Err(Reply::error(
                400,
                "body_unreadable",
                format!("could not read the request body: {e}"),
            )
            .closing())
        }
    };
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Reply::error(
                400,
                "bad_gzip",
                format!("the gzip body could not be decompressed: {e}"),
            )
        })?;
    if out.len() > MAX_INFLATED {
        return Err(Reply::error(
            413,
            "body_too_large",
            "the gzip body inflates past 32 MiB: split it into smaller batches",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        assert_eq!(credential_from_header("Bearer abc"), Some("abc".into()));
        assert_eq!(credential_from_header("bearer   abc "), Some("abc".into()));
        assert_eq!(credential_from_header("Token abc"), Some("abc".into()));
        // "telegraf:s3cret"
        assert_eq!(
            credential_from_header("Basic dGVsZWdyYWY6czNjcmV0"),
            Some("s3cret".into())
        );
        assert_eq!(credential_from_header("Basic !!!"), None);
        assert_eq!(credential_from_header("Digest x"), None);
        assert_eq!(credential_from_header("Bearer"), None);
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let inner: IpAddr = "10.0.0.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let trusted = [proxy, inner];
        // Not from the proxy: the header is ignored.
        assert_eq!(client_ip(stranger, &["198.51.100.7"], &trusted), stranger);
        assert_eq!(client_ip(stranger, &["198.51.100.7"], &[]), stranger);
        // From the proxy: the hop it appended.
        assert_eq!(client_ip(proxy, &["198.51.100.7"], &trusted), client);
        // A forged left-hand entry changes nothing; proxies in the chain are skipped.
        assert_eq!(
            client_ip(proxy, &["1.2.3.4, 198.51.100.7", "10.0.0.3"], &trusted),
            client
        );
        // Nothing usable: the proxy itself.
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(client_ip(proxy, &["garbage"], &trusted), proxy);
        assert_eq!(client_ip(proxy, &["10.0.0.3"], &trusted), proxy);
    }

    #[test]
    fn queries() {
        let q = query_pairs("id=shelly%2D1&temp=-5.38&name=Living+room");
        assert_eq!(param(&q, "id"), Some("shelly-1"));
        assert_eq!(param(&q, "name"), Some("Living room"));
        assert_eq!(param(&q, "nope"), None);
    }
}
