//! Derived metrics through calibrated inputs: a dew point or absolute humidity that Clima
//! derived at ingest (from raw values) is recomputed when read, at each time, from the
//! sensor's temperature and humidity read through their calibrations. Stored values never
//! change; a device's own dew point is left as it sent it.

use clima_model::calibration::Calibration;
use clima_model::derive::{is_derivable, recalibrated};
use clima_model::downsample::{assemble, Bucket, BucketPlan, Partial};

use super::{Api, CalibratedReader};
use crate::hub::LiveSample;
use crate::store::{SensorInfo, StoreError};

pub(super) const TEMPERATURE: &str = "temperature";
pub(super) const HUMIDITY: &str = "humidity";

impl CalibratedReader {
    /// The calibrations of a sensor's temperature and humidity, when `metric` is one Clima
    /// derives from them and at least one is calibrated; `None` when values read as stored.
    pub(super) fn input_calibrations(
        &self,
        sensor: &str,
        metric: &str,
    ) -> Option<(Calibration, Calibration)> {
        if !is_derivable(metric) {
            return None;
        }
        let inputs = (
            self.calibration(sensor, TEMPERATURE),
            self.calibration(sensor, HUMIDITY),
        );
        (!inputs.0.is_none() || !inputs.1.is_none()).then_some(inputs)
    }

    /// Whether a derived metric of this sensor is read through calibrated inputs.
    pub(super) fn input_calibrated(&self, sensor: &str, metric: &str) -> bool {
        self.input_calibrations(sensor, metric).is_some()
    }

    /// [`CalibratedReader::input_calibrations`] of a series whose values Clima derived (a device that
    /// sends its own dew point keeps it). Blocking.
    pub(super) fn derived_inputs(
        &self,
        sensor: &str,
        metric: &str,
    ) -> Result<Option<(Calibration, Calibration)>, StoreError> {
        match self.input_calibrations(sensor, metric) {
            Some(inputs) if self.reader.is_derived(sensor, metric)? => Ok(Some(inputs)),
            _ => Ok(None),
        }
    }

    /// A derived series' buckets recomputed from calibrated inputs, sample by sample (exact,
    /// and as costly as a raw read of temperature and humidity over the range). Blocking.
    pub(super) fn recalibrated_buckets(
        &self,
        sensor: &str,
        metric: &str,
        inputs: (Calibration, Calibration),
        plan: &BucketPlan,
    ) -> Result<Vec<Bucket>, StoreError> {
        let mut partials = Vec::new();
        self.reader.paired(
            sensor,
            (TEMPERATURE, HUMIDITY),
            (plan.start, plan.end()),
            |at, _, t, rh| {
                if let (Some(i), Some(v)) = (plan.index(at), recalibrated(metric, (t, rh), inputs))
                {
                    partials.push((i, Partial::of(v)));
                }
            },
        )?;
        Ok(assemble(plan, partials))
    }
}

impl Api {
    /// Latest values of derived metrics recomputed from the sensor's raw temperature and
    /// humidity of the same time: the latest ones when all three were measured together, else
    /// those stored at the derived value's time. Call before calibrating. Blocking.
    pub(super) fn recalibrate_latest(&self, sensors: &mut [SensorInfo]) -> Result<(), StoreError> {
        for s in sensors {
            let raw = |name: &str| {
                s.metrics
                    .iter()
                    .find(|m| m.metric == name)
                    .and_then(|m| Some((m.value?, m.measured_at?)))
            };
            let (t, rh) = (raw(TEMPERATURE), raw(HUMIDITY));
            for i in 0..s.metrics.len() {
                let m = &s.metrics[i];
                let Some(inputs) = self.0.read.input_calibrations(&s.sensor, &m.metric) else {
                    continue;
                };
                let Some(at) = m.measured_at.filter(|_| m.derived) else {
                    continue;
                };
                let pair = match (t, rh) {
                    (Some((t, t_at)), Some((rh, rh_at))) if t_at == at && rh_at == at => {
                        Some((t, rh))
                    }
                    _ => {
                        let mut found = None;
                        self.0.reader.paired(
                            &s.sensor,
                            (TEMPERATURE, HUMIDITY),
                            (at, at + 1),
                            |_, _, t, rh| found = Some((t, rh)),
                        )?;
                        found
                    }
                };
                if let Some(v) = pair.and_then(|p| recalibrated(&s.metrics[i].metric, p, inputs)) {
                    s.metrics[i].value = Some(v);
                }
            }
        }
        Ok(())
    }

    /// Calibrates an update's live samples: derived values first, from their sensor's raw
    /// temperature and humidity of the same time in the same update, then every other value.
    pub(super) fn calibrate_update(&self, samples: &mut [LiveSample]) {
        let raw: Vec<(String, String, i64, f64)> = samples
            .iter()
            .filter(|s| s.metric == TEMPERATURE || s.metric == HUMIDITY)
            .map(|s| (s.sensor.clone(), s.metric.clone(), s.measured_at, s.value))
            .collect();
        let input = |sensor: &str, metric: &str, at: i64| {
            raw.iter()
                .find(|(s, m, a, _)| s == sensor && m == metric && *a == at)
                .map(|r| r.3)
        };
        for s in samples.iter_mut() {
            if !s.derived {
                s.value = self.calibration(&s.sensor, &s.metric).value(s.value);
                continue;
            }
            let Some(inputs) = self.0.read.input_calibrations(&s.sensor, &s.metric) else {
                s.value = self.calibration(&s.sensor, &s.metric).value(s.value);
                continue;
            };
            let pair = input(&s.sensor, TEMPERATURE, s.measured_at).zip(input(
                &s.sensor,
                HUMIDITY,
                s.measured_at,
            ));
            if let Some(v) = pair.and_then(|tr| recalibrated(&s.metric, tr, inputs)) {
                s.value = v;
            }
        }
    }
}
