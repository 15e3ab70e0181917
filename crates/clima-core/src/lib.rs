//! Clima's engine: everything the headless server and the desktop app share. Readings arrive
//! over HTTP (and serial), are committed to SQLite by one writer, and fan out live through a hub.

pub mod alert;
pub mod api;
pub mod background;
pub mod chart;
pub mod config;
mod demo;
pub mod engine;
pub mod forward;
pub mod http;
pub mod hub;
pub mod metrics;
mod platform;
pub mod serial;
pub mod sim;
pub mod store;

pub use api::Api;
pub use config::{EngineConfig, Token};
pub use engine::{Engine, EngineError};

use clima_model::Millis;

/// The host clock in unix milliseconds. Only IO edges call this; pure code takes `now` as input.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
