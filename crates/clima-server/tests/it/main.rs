//! Integration tests: a real `clima-server` process on 127.0.0.1 with a real SQLite file.

mod alerts;
mod api;
mod browser;
mod calibration;
mod clients;
mod clock;
mod compare;
mod conformance;
mod corpus;
mod derived;
mod forward;
mod hardening;
mod history;
mod housekeeping;
mod lifecycle;
mod mqtt;
mod prometheus;
mod serial;
mod stream;
mod upgrade;
mod util;
