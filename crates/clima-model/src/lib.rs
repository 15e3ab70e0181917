//! Clima's pure centre: what a reading is, how every ingest format becomes one, and how live and
//! historical values are coalesced and bucketed. Nothing here does IO or reads a clock.

pub mod alert;
pub mod calibration;
pub mod chunk;
pub mod clock;
pub mod coalesce;
pub mod derive;
pub mod downsample;
pub mod exposition;
pub mod forward;
pub mod json;
pub mod line_protocol;
pub mod metric;
pub mod push;
pub mod rate;
pub mod reading;
pub mod rollup;
pub mod sensor;
pub mod serial;
pub mod series;
pub mod timestamp;

pub use metric::{FieldError, Metric};
pub use reading::{Reading, Rejected};
pub use sensor::{SensorId, SensorIdError};
pub use series::SeriesTags;

/// Milliseconds since the Unix epoch, UTC. Every stored and compared time uses this unit.
pub type Millis = i64;

/// Lengths of time in [`Millis`].
pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;
