//! The server under test: a base URL parsed into a socket address, refused unless it is loopback.

use std::net::{Ipv4Addr, SocketAddr};

/// Where requests go. Only 127.0.0.0/8 is accepted: a load test never leaves this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header value, as given in the URL.
    pub host: String,
    /// Path prefix from the URL without its trailing slash ("" for none).
    pub prefix: String,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PREFIX]` where HOST is `localhost` or an address in 127.0.0.0/8.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("{url:?}: only plain http:// URLs are supported, e.g. http://127.0.0.1:8137")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{url:?}: port {p:?} is not a number from 1 to 65535"))?;
                (h, port)
            }
            None => (authority, 80),
        };
        let ip: Ipv4Addr = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse().map_err(|_| {
                format!(
                    "{url:?}: host {host:?} must be localhost or an IPv4 address in 127.0.0.0/8"
                )
            })?
        };
        if !ip.is_loopback() {
            return Err(format!(
                "{url:?}: {ip} is not a loopback address; this benchmark only targets 127.0.0.0/8"
            ));
        }
        if port == 0 {
            return Err(format!("{url:?}: port 0 is not a real port"));
        }
        Ok(Target {
            addr: SocketAddr::from((ip, port)),
            host: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The request target for `path` (which starts with `/`), under the URL's prefix.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: Result<(&str, &str), &str>) {
        match (Target::parse(url), expected) {
            (Ok(t), Ok((addr, prefix))) => {
                assert_eq!(t.addr.to_string(), addr, "{url}");
                assert_eq!(t.prefix, prefix, "{url}");
            }
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{url}: {e}"),
            (got, _) => panic!("{url}: unexpected {got:?}"),
        }
    }

    #[test]
    fn urls() {
        check("http://127.0.0.1:18137", Ok(("127.0.0.1:18137", "")));
        check("http://127.0.0.1:18137/", Ok(("127.0.0.1:18137", "")));
        check(
            "http://localhost:8086/influx/",
            Ok(("127.0.0.1:8086", "/influx")),
        );
        check("http://127.8.9.10", Ok(("127.8.9.10:80", "")));
        check("http://10.0.0.1:8137", Err("not a loopback"));
        check("http://192.168.1.2:80", Err("not a loopback"));
        check("http://example.com:80", Err("must be localhost"));
        check("https://127.0.0.1:443", Err("only plain http"));
        check("http://127.0.0.1:x", Err("is not a number"));
        check("http://127.0.0.1:0", Err("port 0"));
    }
}
