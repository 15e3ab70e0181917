//! What a handler needs from a raw request: its query pairs, headers, credentials and a body
//! read within the size limit (and un-gzipped when the client compressed it).

use std::io::Read;
use std::net::IpAddr;

use base64::Engine as _;
use tiny_http::Request;

use super::reply::Reply;
use crate::config::Token;

/// Largest request body accepted, after decompression too.
pub const MAX_BODY: usize = 1024 * 1024;

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

pub fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
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
pub fn headers<'a>(req: &'a Request, name: &'static str) -> Vec<&'a str> {
    req.headers()
        .iter()
        .filter(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
        .collect()
}

/// Checks the request's credentials against the token, if one is set.
///
/// Accepted: `Authorization: Bearer T`, `Authorization: Token T` (InfluxDB 2 clients), Basic
/// auth whose password is T (InfluxDB 1 clients such as Telegraf), and `?token=T` or `?p=T` for
/// devices that can only call a URL.
pub fn authorize(
    req: &Request,
    pairs: &[(String, String)],
    token: Option<&Token>,
) -> Result<(), Reply> {
    let Some(token) = token else { return Ok(()) };
    let presented = header(req, "Authorization").and_then(credential_from_header);
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

fn credential_from_header(value: &str) -> Option<String> {
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
pub fn media_type(req: &Request) -> String {
    header(req, "Content-Type")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes.
pub fn read_body(req: &mut Request) -> Result<Vec<u8>, Reply> {
    let too_large = || {
        Reply::error(
            413,
            "body_too_large",
            "request body is over 1 MiB: split it into smaller batches",
        )
        .closing()
    };
    if req.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let gzip = match header(req, "Content-Encoding").map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(e) => {
            return Err(Reply::error(
                415,
                "unsupported_encoding",
                format!("Content-Encoding {e:?} is not supported: send gzip or no encoding"),
            ))
        }
    };
    let mut raw = Vec::new();
    req.as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| {
            Reply::error(
                400,
                "body_unreadable",
                format!("could not read the request body: {e}"),
            )
            .closing()
        })?;
    if raw.len() > MAX_BODY {
        return Err(too_large());
    }
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Reply::error(
                400,
                "bad_gzip",
                format!("the gzip body could not be decompressed: {e}"),
            )
        })?;
    if out.len() > MAX_BODY {
        return Err(too_large());
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
