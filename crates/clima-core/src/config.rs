//! Engine settings and their checks: where the database lives, where to listen, the access token.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use clima_model::rate::{parse_duration, parse_rate, RateSpec};

use crate::serial::SerialConfig;

/// The port Clima listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8137;

/// Everything the engine needs to start.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub db_path: PathBuf,
    pub listen: SocketAddr,
    pub token: Option<Token>,
    /// Whether the token is the one kept in the database (and so can be regenerated), rather
    /// than one given on the command line.
    pub token_stored: bool,
    /// Reverse proxies whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Per-client-address request limit; `None` disables it.
    pub rate_limit: Option<RateSpec>,
    /// Live updates go out at most once per this interval to each viewer.
    pub throttle: Duration,
    /// Static dashboard files served at `/`, if any.
    pub ui_dir: Option<PathBuf>,
    /// Host names the server answers to besides its own (`--allow-host`).
    pub allowed_hosts: Vec<String>,
    /// Other web origins allowed to call the API from a browser (`--cors-origin`).
    pub cors_origins: Vec<String>,
    /// Serial ports to read; the default reads none.
    pub serial: SerialConfig,
    /// How long raw samples and minute rollups are kept.
    pub retention: crate::store::Retention,
    /// Whether each commit is synced to the disk before it is acknowledged.
    pub durability: crate::store::Durability,
    /// Limits on HTTP connections: head, body, idle and write timeouts, head size, per-address
    /// and total caps.
    pub limits: Limits,
    /// Outside databases every reading is forwarded to (`--forward URL`).
    pub forward: Vec<String>,
    /// The token of `/api/v2/write` targets (`--forward-token-env VAR`).
    pub forward_token: Option<crate::forward::Secret>,
    /// Where alert transitions are posted (`--alert-webhook URL`), besides those in Settings.
    pub alert_webhooks: Vec<String>,
}

impl EngineConfig {
    /// Defaults for a database at `db_path`: loopback, no token, 600 requests a minute, 500 ms updates.
    pub fn new(db_path: PathBuf) -> Self {
        EngineConfig {
            db_path,
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            token_stored: false,
            trusted_proxies: Vec::new(),
            rate_limit: Some(RateSpec {
                count: 600,
                period: Duration::from_secs(60),
            }),
            throttle: Duration::from_millis(500),
            ui_dir: None,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            serial: SerialConfig::default(),
            retention: Default::default(),
            durability: Default::default(),
            limits: Default::default(),
            forward: Vec::new(),
            forward_token: None,
            alert_webhooks: Vec::new(),
        }
    }

    /// Refuses to expose an unauthenticated port beyond this machine.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Err(ConfigError::Exposed(self.listen));
        }
        Ok(())
    }
}

/// Every bound on a connection, in one place. The defaults suit a home or lab network; tests
/// shorten the timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request head must arrive within this, and so must the next one on a kept-alive
    /// connection (the idle timeout).
    pub head_timeout: Duration,
    /// Largest request head; a larger one gets 431 and the connection is closed.
    pub head_max: usize,
    /// A request body must arrive within this; a slower one gets 408 and the connection is
    /// closed.
    pub body_timeout: Duration,
    /// A reply that makes no progress for this long (the client stopped reading) is cut.
    pub write_stall: Duration,
    /// Connections one client address may hold; more are closed at once.
    pub per_address: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: Duration::from_secs(10),
            head_max: 64 * 1024,
            body_timeout: Duration::from_secs(30),
            write_stall: Duration::from_secs(10),
            per_address: 256,
            total: 4096,
        }
    }
}

/// A setting that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The port would be reachable from the network with no token.
    #[error("refusing to listen on {0} without a token: anyone on the network could write and read readings. Pass --token TOKEN (or set CLIMA_TOKEN), or listen on 127.0.0.1")]
    Exposed(SocketAddr),
    /// A token too short or with spaces.
    #[error("a token needs at least 8 characters and no spaces")]
    WeakToken,
}

/// The platform data dir's database, e.g. `~/.local/share/clima/clima.db` on Linux.
pub fn default_db_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "clima").map(|d| d.data_dir().join("clima.db"))
}

/// The shared secret clients present. Never printed: its `Debug` and `Display` hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Result<Self, ConfigError> {
        let s = s.into();
        if s.len() < 8 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::WeakToken);
        }
        Ok(Token(s))
    }

    /// A fresh random token: 128 bits as 32 hex digits, long enough to guess never, short
    /// enough to paste.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 16];
        // Without an OS random source no safe token can be made; that machine cannot run Clima.
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Compares in constant time, so response timing reveals nothing about the token.
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq::constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }

    /// The secret itself, for the one place that must show it (the settings page).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_needs_a_token() {
        let mut cfg = EngineConfig::new("x.db".into());
        assert!(cfg.check_exposure().is_ok());
        cfg.listen = "0.0.0.0:8137".parse().unwrap();
        assert!(cfg
            .check_exposure()
            .unwrap_err()
            .to_string()
            .contains("--token"));
        cfg.token = Some(Token::new("s3cret-token").unwrap());
        assert!(cfg.check_exposure().is_ok());
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn tokens() {
        let t = Token::new("abcdefgh").unwrap();
        assert!(t.matches("abcdefgh"));
        assert!(!t.matches("abcdefgi"));
        assert!(!t.matches("abcdefg"));
        assert!(Token::new("short").is_err());
        assert!(Token::new("has space in it").is_err());
    }
}
