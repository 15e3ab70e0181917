//! Calibration: a sensor metric's linear correction (`value × scale + offset`), applied when
//! values are read so stored raw values never change; exact on buckets, whose mean, min and max
//! a linear map carries over.

use crate::downsample::Bucket;

/// A linear correction of one sensor's metric.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    pub offset: f64,
    pub scale: f64,
}

/// Why a calibration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error("offset and scale must be finite numbers")]
    NotFinite,
    #[error("a scale of 0 would erase every value: use 1 for no scaling")]
    ZeroScale,
}

impl Calibration {
    /// No correction.
    pub const NONE: Calibration = Calibration {
        offset: 0.0,
        scale: 1.0,
    };

    pub fn new(offset: f64, scale: f64) -> Result<Self, CalibrationError> {
        if !offset.is_finite() || !scale.is_finite() {
            return Err(CalibrationError::NotFinite);
        }
        if scale == 0.0 {
            return Err(CalibrationError::ZeroScale);
        }
        Ok(Calibration { offset, scale })
    }

    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    pub fn value(&self, raw: f64) -> f64 {
        raw * self.scale + self.offset
    }

    /// A bucket of raw values as the same bucket of corrected values: the mean maps exactly,
    /// and min and max swap places under a negative scale.
    pub fn bucket(&self, b: &Bucket) -> Bucket {
        let (min, max) = (b.min.map(|v| self.value(v)), b.max.map(|v| self.value(v)));
        let (min, max) = if self.scale < 0.0 {
            (max, min)
        } else {
            (min, max)
        };
        Bucket {
            t: b.t,
            mean: b.mean.map(|v| self.value(v)),
            min,
            max,
            count: b.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(values: &[f64]) -> Bucket {
        let n = values.len() as f64;
        Bucket {
            t: 60_000,
            mean: Some(values.iter().sum::<f64>() / n),
            min: values.iter().copied().reduce(f64::min),
            max: values.iter().copied().reduce(f64::max),
            count: values.len() as u64,
        }
    }

    #[test]
    fn a_calibrated_bucket_is_the_bucket_of_calibrated_values() {
        let raw = [19.5, 20.0, 21.25, 20.5];
        for c in [
            Calibration::new(-0.75, 1.0).unwrap(),
            Calibration::new(2.0, 1.5).unwrap(),
            Calibration::new(10.0, -2.0).unwrap(),
        ] {
            let corrected: Vec<f64> = raw.iter().map(|&v| c.value(v)).collect();
            assert_eq!(c.bucket(&bucket(&raw)), bucket(&corrected), "{c:?}");
        }
        let empty = Bucket {
            t: 0,
            mean: None,
            min: None,
            max: None,
            count: 0,
        };
        assert_eq!(Calibration::new(1.0, 2.0).unwrap().bucket(&empty), empty);
        assert!(Calibration::NONE.is_none());
        assert_eq!(Calibration::new(0.0, 0.0), Err(CalibrationError::ZeroScale));
        assert_eq!(
            Calibration::new(f64::NAN, 1.0),
            Err(CalibrationError::NotFinite)
        );
    }
}
