//! Sensor housekeeping: the name shown on the dashboard, hiding a sensor from it, deleting a
//! sensor with its data, and merging one sensor's history into another's (a device whose id
//! changed). Names and hidden flags live in the settings table; deletion and merging run on the
//! writer thread (`store::writer`).

use clima_model::reading::clean_name;

use super::{Api, CALIBRATION_KEY};
use crate::store::{Receipt, SensorInfo, StoreError, KEEP_MINUTE_KEY, KEEP_RAW_KEY};

/// Where a sensor's display name is kept: `sensor_name:SENSOR`, empty for none.
pub const NAME_KEY: &str = crate::store::alerts::SENSOR_NAME_KEY;
/// Where a sensor's hidden flag is kept: `sensor_hidden:SENSOR`, `1` when hidden.
pub const HIDDEN_KEY: &str = "sensor_hidden:";

/// Why a housekeeping action was refused.
#[derive(Debug, thiserror::Error)]
pub enum HousekeepingError {
    #[error("no sensor {0:?}: see /api/v1/sensors")]
    UnknownSensor(String),
    /// A deletion must repeat the sensor's id, so that no slip deletes data.
    #[error(
        "deleting sensor {0:?} removes all its data: repeat its id as ?confirm={0} to go ahead"
    )]
    NotConfirmed(String),
    #[error("a sensor cannot be merged into itself: name two different sensors in \"from\" and \"into\"")]
    SameSensor,
    #[error("name {0}")]
    Name(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a merge did: samples moved, samples `into` held already with the same value, and
/// conflicts (`into` held another value at that time: its value stands), as ingest counts them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeOutcome {
    pub from: String,
    pub into: String,
    /// Samples moved (ingest's `accepted`).
    pub accepted: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    /// The first conflicts, at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicting: Vec<crate::store::Conflict>,
}

impl Api {
    /// Fills in the names and hidden flags the user set. Blocking.
    pub(super) fn add_housekeeping(&self, sensors: &mut [SensorInfo]) -> Result<(), StoreError> {
        let names = self.0.reader.settings(NAME_KEY)?;
        let hidden = self.0.reader.settings(HIDDEN_KEY)?;
        for s in sensors {
            s.display_name = names
                .iter()
                .find(|(k, v)| *k == s.sensor && !v.is_empty())
                .map(|(_, v)| v.clone());
            s.hidden = hidden.iter().any(|(k, v)| *k == s.sensor && v == "1");
        }
        Ok(())
    }

    fn require_sensor(&self, sensor: &str) -> Result<(), HousekeepingError> {
        if self.0.reader.sensors()?.iter().any(|s| s.sensor == sensor) {
            Ok(())
        } else {
            Err(HousekeepingError::UnknownSensor(sensor.to_owned()))
        }
    }

    /// Names a sensor on the dashboard (an empty name goes back to the device's own name or
    /// its id) and keeps the name. Blocking.
    pub fn rename_sensor(
        &self,
        sensor: &str,
        name: &str,
    ) -> Result<Option<String>, HousekeepingError> {
        self.require_sensor(sensor)?;
        let name = clean_name(name).map_err(|e| HousekeepingError::Name(e.problem))?;
        self.0.writer.set_setting(
            &format!("{NAME_KEY}{sensor}"),
            name.as_deref().unwrap_or(""),
        )?;
        Ok(name)
    }

    /// Hides a sensor from the dashboard, or shows it again; its readings are still collected
    /// and stored either way. Blocking.
    pub fn hide_sensor(&self, sensor: &str, hidden: bool) -> Result<(), HousekeepingError> {
        self.require_sensor(sensor)?;
        self.0.writer.set_setting(
            &format!("{HIDDEN_KEY}{sensor}"),
            if hidden { "1" } else { "" },
        )?;
        Ok(())
    }

    /// Deletes a sensor and every value stored of it; `confirm` must repeat its id. Its name,
    /// hidden flag, calibrations and retention settings go too. Blocking.
    pub fn delete_sensor(
        &self,
        sensor: &str,
        confirm: Option<&str>,
    ) -> Result<(), HousekeepingError> {
        if confirm != Some(sensor) {
            return Err(HousekeepingError::NotConfirmed(sensor.to_owned()));
        }
        if !self.0.writer.delete_sensor(sensor)? {
            return Err(HousekeepingError::UnknownSensor(sensor.to_owned()));
        }
        self.forget_sensor_settings(sensor)?;
        Ok(())
    }

    /// Moves `from`'s whole history into `into` and deletes `from`: for a device whose id
    /// changed. A sample at a time `into` holds already is a duplicate (same value) or a
    /// conflict (`into`'s value stands), as in ingest. `into` keeps its own name, calibrations
    /// and settings; `from`'s go. Blocking; the writer does nothing else meanwhile.
    pub fn merge_sensors(&self, from: &str, into: &str) -> Result<MergeOutcome, HousekeepingError> {
        if from == into {
            return Err(HousekeepingError::SameSensor);
        }
        self.require_sensor(into)?;
        let Some(Receipt {
            stored,
            duplicates,
            conflicts,
        }) = self.0.writer.merge_sensors(from, into)?
        else {
            return Err(HousekeepingError::UnknownSensor(from.to_owned()));
        };
        self.forget_sensor_settings(from)?;
        Ok(MergeOutcome {
            from: from.to_owned(),
            into: into.to_owned(),
            accepted: stored,
            duplicates,
            conflicts: conflicts.len(),
            conflicting: conflicts.into_iter().take(10).collect(),
        })
    }

    /// Clears every setting kept for a sensor that no longer exists.
    fn forget_sensor_settings(&self, sensor: &str) -> Result<(), StoreError> {
        let metrics: Vec<String> = self
            .0
            .read
            .calibrations
            .write()
            .expect("calibrations")
            .remove(sensor)
            .map(|m| m.into_keys().collect())
            .unwrap_or_default();
        for metric in metrics {
            self.0
                .writer
                .set_setting(&format!("{CALIBRATION_KEY}{sensor}/{metric}"), "")?;
        }
        for prefix in [
            NAME_KEY,
            HIDDEN_KEY,
            KEEP_RAW_KEY,
            KEEP_MINUTE_KEY,
            crate::store::alerts::INTERVAL_KEY,
        ] {
            self.0
                .writer
                .set_setting(&format!("{prefix}{sensor}"), "")?;
        }
        Ok(())
    }
}
