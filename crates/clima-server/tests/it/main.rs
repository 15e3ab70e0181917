//! Integration tests: a real `clima-server` process on 127.0.0.1 with a real SQLite file.

mod api;
mod browser;
mod clients;
mod conformance;
mod corpus;
mod forward;
mod hardening;
mod history;
mod lifecycle;
mod mqtt;
mod prometheus;
mod serial;
mod stream;
mod util;
