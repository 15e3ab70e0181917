//! Reading USB serial sensor boards, minus the port itself: bytes become lines, lines become
//! readings.
//!
//! A port reader owns one [`LineFramer`] and one [`SerialParser`] per port, feeds each read to
//! the framer and each line to the parser, and stores the readings like any others.

mod esphome;
pub mod formats;
pub mod framer;
pub mod permission;
mod sketch;
mod tasmota;

pub use formats::{
    garbage_score, BoardSettings, LineOutcome, SerialParser, TemperatureUnit, GARBAGE_LIMIT,
};
pub use framer::{LineFramer, MAX_LINE_BYTES};
