//! Alerts: rules over readings (`rule`), the state machine of one rule over one series
//! (`state`), every rule over every series as readings and timer ticks arrive (`eval`), and
//! what a notification says (`notice`). Pure: the clock is passed in.

pub mod eval;
pub mod notice;
pub mod rule;
pub mod state;

pub use eval::{Evaluator, TrackKey, Update};
pub use notice::{reason, Event, Notice};
pub use rule::{presets, Condition, Preset, Rule, RuleError};
pub use state::{Change, State, Track};
