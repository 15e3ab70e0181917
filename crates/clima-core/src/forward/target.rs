//! Where a forwarder writes, read from its `--forward URL`: the protocol, the address to post
//! to, the credentials kept apart, and the address as shown (credentials hidden).

use std::fmt;

use url::Url;

/// A credential for a target. Never printed: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The token in environment variable `var` (`--forward-token-env VAR`), so it never
    /// appears on a command line that other users can list.
    pub fn from_env(var: &str) -> Result<Secret, TargetError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
            _ => Err(TargetError::TokenEnv(var.to_owned())),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// The write API a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `/write?db=` (InfluxDB 1, VictoriaMetrics, QuestDB, Telegraf's listeners).
    InfluxV1,
    /// `/api/v2/write?org=&bucket=` with a token (InfluxDB 2 and 3).
    InfluxV2,
    /// `mqtt://HOST:PORT/PREFIX` (or `mqtts://`): retained states and Home Assistant discovery.
    Mqtt,
}

/// An MQTT broker and the topic prefix states go under.
#[derive(Clone, PartialEq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub prefix: String,
    pub login: Option<(String, Secret)>,
    /// For `mqtts://`: TLS, with the certificate checked against these roots.
    pub tls: Option<Roots>,
}

/// What an `mqtts://` broker's certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The public certificate authorities (Mozilla's list, as for `https://` targets).
    Public,
    /// Only the certificates in this PEM file (`?ca=PATH`): a broker with its own CA or a
    /// self-signed certificate.
    File(std::path::PathBuf),
}

/// A parsed `--forward URL`.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub kind: Kind,
    /// What requests go to: the URL without user info (a `p=` password stays in it).
    pub endpoint: String,
    /// The value of the `Authorization` header, if any.
    pub authorization: Option<Secret>,
    /// The URL with every credential replaced by `***`: shown, logged, and the key its cursor
    /// is kept under.
    pub shown: String,
    /// For [`Kind::Mqtt`], the broker.
    pub broker: Option<Broker>,
}

/// Shows the target as [`Target::shown`], never its credentials.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("shown", &self.shown)
            .finish()
    }
}

/// Why a `--forward` URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("forward target {0:?} is not a URL: give e.g. http://HOST:8086/write?db=clima")]
    NotUrl(String),
    #[error("forward target {shown}: scheme {scheme:?} is not supported: use http:// or https:// with /write?db=NAME (InfluxDB 1.x line protocol) or /api/v2/write?org=ORG&bucket=BUCKET, or mqtt://HOST:PORT/PREFIX (mqtts:// for TLS)")]
    Scheme { shown: String, scheme: String },
    #[error(
        "forward target {0}: ?ca=PATH is for mqtts:// (TLS): use mqtts://HOST:8883/PREFIX?ca=PATH"
    )]
    MqttCaWithoutTls(String),
    #[error("forward target {shown}: cannot use {path} as the broker's CA certificate: {why}: give ?ca= the path of a PEM file holding the certificate that signed the broker's")]
    MqttCa {
        shown: String,
        path: String,
        why: String,
    },
    #[error("forward target {0}: an MQTT target needs a host and a topic prefix without '+' or '#', e.g. mqtt://broker.lan:1883/clima or mqtts://broker.lan:8883/clima")]
    MqttAddress(String),
    #[error("forward target {0}: the path must be /write?db=NAME (InfluxDB 1.x, VictoriaMetrics; a VictoriaMetrics cluster's /insert/0/influx/write) or /api/v2/write?org=ORG&bucket=BUCKET (InfluxDB 2 and 3)")]
    Path(String),
    #[error("forward target {0}: /write needs ?db=NAME, the database to write to")]
    NoDatabase(String),
    #[error("forward target {0}: /api/v2/write needs ?org=ORG&bucket=BUCKET")]
    NoBucket(String),
    #[error("--forward-token-env {0}: the environment variable {0} is not set or is empty: export it with the target's token")]
    TokenEnv(String),
    #[error("forward target {0}: /api/v2/write needs a token: pass --forward-token-env VAR with the token in that environment variable")]
    NoToken(String),
}

/// Query parameters that carry a credential (InfluxDB 1.x takes `u` and `p`).
const SECRET_PARAMS: [&str; 3] = ["p", "password", "token"];

/// Reads a `--forward` URL; `token` is the one from `--forward-token-env`, used by
/// `/api/v2/write` targets.
pub fn parse(raw: &str, token: Option<&Secret>) -> Result<Target, TargetError> {
    let mut url = Url::parse(raw.trim()).map_err(|_| TargetError::NotUrl(redact_text(raw)))?;
    let mut user = percent_decode(url.username());
    let mut password = url.password().map(percent_decode);
    let shown = shown(&url);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    // InfluxDB 1.x's `u` and `p` parameters become Basic auth, which it takes alike, so no
    // credential stays in the address requests go to.
    if url.query_pairs().any(|(k, _)| k == "u" || k == "p") {
        let mut rest = Vec::new();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "u" => user = v.into_owned(),
                "p" => password = Some(v.into_owned()),
                _ => rest.push((k.into_owned(), v.into_owned())),
            }
        }
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    let endpoint = url.to_string();
    if matches!(url.scheme(), "mqtt" | "mqtts") {
        return mqtt(&url, user, password, shown);
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme {
            shown,
            scheme: url.scheme().into(),
        });
    }
    let param = |name: &str| url.query_pairs().any(|(k, v)| k == name && !v.is_empty());
    let path = url.path();
    let (kind, authorization) = match path {
        // Also a VictoriaMetrics cluster's `/insert/ACCOUNT/influx/write`.
        _ if path.ends_with("/write") && !path.ends_with("/api/v2/write") => {
            if path == "/write" && !param("db") {
                return Err(TargetError::NoDatabase(shown));
            }
            let basic = (!user.is_empty() || password.is_some())
                .then(|| Secret(basic_auth(&user, &password.unwrap_or_default())));
            (Kind::InfluxV1, basic)
        }
        _ if path.ends_with("/api/v2/write") => {
            if !param("org") && !param("orgID") || !param("bucket") {
                return Err(TargetError::NoBucket(shown));
            }
            let token = token.ok_or_else(|| TargetError::NoToken(shown.clone()))?;
            (Kind::InfluxV2, Some(Secret(format!("Token {}", token.0))))
        }
        _ => return Err(TargetError::Path(shown)),
    };
    Ok(Target {
        kind,
        endpoint,
        authorization,
        shown,
        broker: None,
    })
}

fn mqtt(
    url: &Url,
    user: String,
    password: Option<String>,
    shown: String,
) -> Result<Target, TargetError> {
    let prefix = url.path().trim_matches('/');
    let prefix = if prefix.is_empty() { "clima" } else { prefix };
    let host = url.host_str().filter(|h| !h.is_empty());
    // A '#' in the URL starts its fragment, which would silently cut the prefix short.
    let wildcard = prefix.contains(['+', '#']) || url.fragment().is_some();
    let Some(host) = host.filter(|_| !wildcard) else {
        return Err(TargetError::MqttAddress(shown));
    };
    let ca = url
        .query_pairs()
        .find(|(k, _)| k == "ca")
        .map(|(_, v)| std::path::PathBuf::from(v.as_ref()));
    let tls = match (url.scheme(), ca) {
        ("mqtts", Some(path)) => Some(Roots::File(path)),
        ("mqtts", None) => Some(Roots::Public),
        (_, Some(_)) => return Err(TargetError::MqttCaWithoutTls(shown)),
        (_, None) => None,
    };
    let port = url
        .port()
        .unwrap_or(if tls.is_some() { 8883 } else { 1883 });
    Ok(Target {
        kind: Kind::Mqtt,
        endpoint: format!("{host}:{port}"),
        authorization: None,
        shown,
        broker: Some(Broker {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            prefix: prefix.to_owned(),
            login: (!user.is_empty()).then(|| (user, Secret(password.unwrap_or_default()))),
            tls,
        }),
    })
}

/// The URL as shown: `***` for user info and secret parameters.
pub(crate) fn shown(url: &Url) -> String {
    let mut out = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = out.set_password(None);
        let _ = out.set_username("***");
    }
    if url
        .query_pairs()
        .any(|(k, _)| SECRET_PARAMS.contains(&k.as_ref()))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SECRET_PARAMS.contains(&k.as_ref()) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        out.query_pairs_mut().clear().extend_pairs(pairs);
    }
    out.to_string()
}

/// Something that did not parse as a URL, shown without what may be user info.
/// The `Authorization` header's value for HTTP basic authentication.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Text that did not parse as a URL, shown without what may be user info.
pub(crate) fn redact_text(raw: &str) -> String {
    match raw.split_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => raw.to_owned(),
    }
}

/// A percent-encoded part of a URL (user, password) as text.
pub(crate) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, token: Option<&str>, want: Result<(Kind, &str, Option<&str>, &str), &str>) {
        let token = token.map(Secret::new);
        let got = parse(raw, token.as_ref());
        match (got, want) {
            (Ok(t), Ok((kind, endpoint, auth, shown))) => {
                assert_eq!(t.kind, kind, "{raw}");
                assert_eq!(t.endpoint, endpoint, "{raw}");
                assert_eq!(t.authorization.as_ref().map(Secret::expose), auth, "{raw}");
                assert_eq!(t.shown, shown, "{raw}");
                assert!(!format!("{t:?}").contains("s3cret"), "{t:?}");
            }
            (Err(e), Err(fragment)) => {
                let text = e.to_string();
                assert!(text.contains(fragment), "{raw}: {text}");
                assert!(!text.contains("s3cret"), "{raw}: {text}");
            }
            (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn targets() {
        use Kind::*;
        check(
            "http://127.0.0.1:8086/write?db=clima",
            None,
            Ok((
                InfluxV1,
                "http://127.0.0.1:8086/write?db=clima",
                None,
                "http://127.0.0.1:8086/write?db=clima",
            )),
        );
        // admin:s3cret → Basic YWRtaW46czNjcmV0
        check(
            "https://admin:s3cret@influx.lan/write?db=clima",
            None,
            Ok((
                InfluxV1,
                "https://influx.lan/write?db=clima",
                Some("Basic YWRtaW46czNjcmV0"),
                "https://***@influx.lan/write?db=clima",
            )),
        );
        check(
            "http://h:8428/write?db=x&u=admin&p=s3cret",
            None,
            Ok((
                InfluxV1,
                "http://h:8428/write?db=x",
                Some("Basic YWRtaW46czNjcmV0"),
                "http://h:8428/write?db=x&u=admin&p=***",
            )),
        );
        check(
            "http://h:8086/api/v2/write?org=home&bucket=clima",
            Some("s3cret"),
            Ok((
                InfluxV2,
                "http://h:8086/api/v2/write?org=home&bucket=clima",
                Some("Token s3cret"),
                "http://h:8086/api/v2/write?org=home&bucket=clima",
            )),
        );
        check(
            "http://h:8086/api/v2/write?org=home&bucket=clima",
            None,
            Err("--forward-token-env"),
        );
        check(
            "http://h:8086/api/v2/write?org=home",
            Some("s3cret"),
            Err("bucket"),
        );
        check("http://h:8086/write", None, Err("?db=NAME"));
        check(
            "http://vm:8480/insert/0/influx/write",
            None,
            Ok((
                InfluxV1,
                "http://vm:8480/insert/0/influx/write",
                None,
                "http://vm:8480/insert/0/influx/write",
            )),
        );
        check("http://h:8086/query?db=x", None, Err("the path must be"));
        check(
            "ftp://u:s3cret@h/write?db=x",
            None,
            Err("\"ftp\" is not supported"),
        );
        check("not a url with s3cret@", None, Err("is not a URL"));
        check(
            "mqtt://u:s3cret@broker.lan/home",
            None,
            Ok((Mqtt, "broker.lan:1883", None, "mqtt://***@broker.lan/home")),
        );
        check(
            "mqtts://broker.lan/home",
            None,
            Ok((Mqtt, "broker.lan:8883", None, "mqtts://broker.lan/home")),
        );
        check(
            "mqtt://broker.lan/home?ca=/etc/ca.pem",
            None,
            Err("?ca=PATH is for mqtts://"),
        );
        check("mqtts://broker.lan/a/#", None, Err("without '+' or '#'"));
    }

    #[test]
    fn mqtt_brokers() {
        let broker = |raw: &str| parse(raw, None).unwrap().broker.unwrap();
        let b = broker("mqtt://broker.lan");
        assert_eq!((b.port, b.prefix.as_str(), b.tls), (1883, "clima", None));
        let b = broker("mqtts://clima:s3cret@broker.lan:8884/site/a?ca=/etc/clima/ca.pem");
        assert_eq!((b.port, b.prefix.as_str()), (8884, "site/a"));
        assert_eq!(
            b.tls,
            Some(Roots::File(std::path::PathBuf::from("/etc/clima/ca.pem")))
        );
        let (user, password) = b.login.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("clima", "s3cret"));
        assert_eq!(broker("mqtts://[::1]/x").tls, Some(Roots::Public));
        assert_eq!(broker("mqtts://[::1]/x").host, "::1");
    }
}
