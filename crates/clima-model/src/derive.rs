//! Metrics derived from a reading's temperature and relative humidity: dew point and absolute
//! humidity, over water, by the Magnus formula with Sonntag's constants (as Sensirion's humidity
//! application notes use them).

use crate::calibration::Calibration;
use crate::chunk::Sample;
use crate::metric::Metric;

/// Magnus constants (Sonntag 1990, over water), and the temperatures they hold for.
const MAGNUS_RANGE: std::ops::RangeInclusive<f64> = -45.0..=60.0;
const MAGNUS_HPA: f64 = 6.112;
const MAGNUS_B: f64 = 17.62;
const MAGNUS_C: f64 = 243.12;
/// `1000 / R_v` in g·K/(hPa·m³)·100: absolute humidity is `216.7 × e / T` for `e` in hPa.
const GRAMS_PER_HPA_KELVIN: f64 = 216.7;

/// The metrics Clima derives, when a reading has temperature and humidity and lacks them.
pub const DEW_POINT: &str = "dew_point";
pub const ABSOLUTE_HUMIDITY: &str = "absolute_humidity";

/// Derived values are kept to hundredths: the formula itself is good to about 0.1 °C and 1 %,
/// and the digits past that would only cost space (a full-precision float compresses to about
/// six times the bytes of a two-decimal value).
fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `ln(rh) + b·t / (c + t)`, the Magnus formula's common term.
fn gamma(t_c: f64, rh_percent: f64) -> f64 {
    (rh_percent / 100.0).ln() + MAGNUS_B * t_c / (MAGNUS_C + t_c)
}

/// Dew point in °C (to hundredths) of air at `t_c` °C and `rh_percent` % relative humidity; `None` for dry air
/// (no dew point) or outside −45 to 60 °C, where the formula does not hold.
pub fn dew_point(t_c: f64, rh_percent: f64) -> Option<f64> {
    if rh_percent <= 0.0 || !MAGNUS_RANGE.contains(&t_c) {
        return None;
    }
    let g = gamma(t_c, rh_percent);
    Some(hundredths(MAGNUS_C * g / (MAGNUS_B - g))).filter(|d| d.is_finite())
}

/// Absolute humidity in g/m³ (to hundredths) of air at `t_c` °C and `rh_percent` % relative humidity; `None`
/// outside −45 to 60 °C.
pub fn absolute_humidity(t_c: f64, rh_percent: f64) -> Option<f64> {
    if rh_percent < 0.0 || !MAGNUS_RANGE.contains(&t_c) {
        return None;
    }
    let vapour_hpa = MAGNUS_HPA * (MAGNUS_B * t_c / (MAGNUS_C + t_c)).exp() * rh_percent / 100.0;
    Some(hundredths(
        GRAMS_PER_HPA_KELVIN * vapour_hpa / (273.15 + t_c),
    ))
    .filter(|a| a.is_finite())
}

/// The derived values a reading lacks: dew point and absolute humidity when it has temperature
/// and humidity. A value the device sent itself is never replaced.
pub fn derive(values: &[(Metric, f64)]) -> Vec<(&'static str, f64)> {
    let get = |name: &str| values.iter().find(|(m, _)| m.as_str() == name).map(|v| v.1);
    let (Some(t), Some(rh)) = (get("temperature"), get("humidity")) else {
        return Vec::new();
    };
    [
        (DEW_POINT, dew_point(t, rh)),
        (ABSOLUTE_HUMIDITY, absolute_humidity(t, rh)),
    ]
    .into_iter()
    .filter(|(name, _)| get(name).is_none())
    .filter_map(|(name, v)| Some((name, v?)))
    .collect()
}

/// Whether `metric` is one Clima derives from temperature and humidity.
pub fn is_derivable(metric: &str) -> bool {
    metric == DEW_POINT || metric == ABSOLUTE_HUMIDITY
}

/// A derived metric recomputed from a sensor's raw temperature and humidity read through their
/// calibrations: what a derived value becomes once its inputs are calibrated. `None` for a
/// metric Clima does not derive, or where the formula gives none.
pub fn recalibrated(
    metric: &str,
    (t_raw, rh_raw): (f64, f64),
    (t_cal, rh_cal): (Calibration, Calibration),
) -> Option<f64> {
    let (t, rh) = (t_cal.value(t_raw), rh_cal.value(rh_raw));
    match metric {
        DEW_POINT => dew_point(t, rh),
        ABSOLUTE_HUMIDITY => absolute_humidity(t, rh),
        _ => None,
    }
}

/// Calls `each` with every pair of samples of `xs` and `ys` (both in time order) measured at the
/// same time: the temperature and humidity a derived value is computed from.
pub fn same_times<'a>(
    xs: &'a [Sample],
    ys: &'a [Sample],
    mut each: impl FnMut(&'a Sample, &'a Sample),
) {
    let mut j = 0;
    for x in xs {
        while j < ys.len() && ys[j].at < x.at {
            j += 1;
        }
        if let Some(y) = ys.get(j).filter(|y| y.at == x.at) {
            each(x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::normalize;

    /// Reference values: dew point (°C) as dew point tables print it (one decimal), and absolute
    /// humidity (g/m³) as the saturation density of water vapour in standard tables (4.85 g/m³
    /// at 0 °C, 17.3 at 20 °C, 23.0 at 25 °C, 30.4 at 30 °C, 9.4 at 10 °C, 2.36 at −10 °C over
    /// water) times the relative humidity; the Magnus formula agrees within 1 %.
    const TABLE: &[(f64, f64, f64, f64)] = &[
        (20.0, 50.0, 9.3, 8.6),
        (25.0, 60.0, 16.7, 13.8),
        (30.0, 80.0, 26.2, 24.3),
        (0.0, 100.0, 0.0, 4.85),
        (-10.0, 100.0, -10.0, 2.36),
        (10.0, 30.0, -6.8, 2.8),
    ];

    #[test]
    fn formulas_match_published_tables() {
        for &(t, rh, dp, ah) in TABLE {
            let d = dew_point(t, rh).unwrap();
            assert!(
                (d - dp).abs() <= 0.05,
                "dew point at {t} °C {rh} %: {d}, table {dp}"
            );
            let a = absolute_humidity(t, rh).unwrap();
            assert!(
                (a - ah).abs() <= ah * 0.01,
                "absolute humidity at {t} °C {rh} %: {a}, table {ah}"
            );
        }
        assert_eq!(dew_point(20.0, 0.0), None);
        assert_eq!(absolute_humidity(20.0, 0.0), Some(0.0));
        // An oven is out of the formula's range.
        assert_eq!(
            (dew_point(82.0, 71.0), absolute_humidity(82.0, 71.0)),
            (None, None)
        );
    }

    #[test]
    fn pairs_only_samples_measured_at_the_same_time() {
        let at = |t: i64, v: f64| Sample {
            at: t,
            received_at: t + 5,
            value: v,
        };
        let t = [at(1, 20.0), at(3, 21.0), at(4, 22.0), at(9, 23.0)];
        let rh = [
            at(0, 40.0),
            at(3, 41.0),
            at(5, 42.0),
            at(9, 43.0),
            at(10, 44.0),
        ];
        let mut pairs = Vec::new();
        same_times(&t, &rh, |x, y| pairs.push((x.at, x.value, y.value)));
        assert_eq!(pairs, [(3, 21.0, 41.0), (9, 23.0, 43.0)]);
    }

    #[test]
    fn derived_values_are_whole_hundredths() {
        for (t, rh) in [(21.37, 44.81), (-3.02, 97.55), (35.5, 12.03)] {
            for v in [dew_point(t, rh).unwrap(), absolute_humidity(t, rh).unwrap()] {
                let scaled = v * 100.0;
                assert_eq!(scaled.round() / 100.0, v, "{v} from {t} °C {rh} %");
                assert!(
                    (scaled - scaled.round()).abs() < 1e-6,
                    "{v} has more than two decimals"
                );
            }
        }
    }

    fn values(fields: &[(&str, f64)]) -> Vec<(Metric, f64)> {
        fields
            .iter()
            .map(|&(n, v)| normalize(n, v).unwrap())
            .collect()
    }

    #[test]
    fn derives_what_is_missing_and_never_replaces_the_device_value() {
        let both = derive(&values(&[("temperature", 20.0), ("humidity", 50.0)]));
        assert_eq!(
            both.iter().map(|d| d.0).collect::<Vec<_>>(),
            [DEW_POINT, ABSOLUTE_HUMIDITY]
        );
        // The device's own dew point wins (here in °F, stored in °C).
        let own = derive(&values(&[
            ("temperature", 20.0),
            ("humidity", 50.0),
            ("dewpoint_f", 50.0),
        ]));
        assert_eq!(
            own.iter().map(|d| d.0).collect::<Vec<_>>(),
            [ABSOLUTE_HUMIDITY]
        );
        assert!(derive(&values(&[("temperature", 20.0)])).is_empty());
        assert!(derive(&values(&[("humidity", 50.0), ("pressure", 1000.0)])).is_empty());
        // Dry air has absolute humidity 0 and no dew point.
        assert_eq!(
            derive(&values(&[("temperature", 20.0), ("humidity", 0.0)])),
            [(ABSOLUTE_HUMIDITY, 0.0)]
        );
    }

    #[test]
    fn recalibrated_values_follow_the_calibrated_inputs() {
        let none = (Calibration::NONE, Calibration::NONE);
        // Uncalibrated inputs give the value derived at ingest.
        assert_eq!(
            recalibrated(DEW_POINT, (20.0, 50.0), none),
            dew_point(20.0, 50.0)
        );
        // A sensor reading 1 °C warm and 5 % dry: 21 °C and 45 % raw are 20 °C and 50 %.
        let cal = (
            Calibration::new(-1.0, 1.0).unwrap(),
            Calibration::new(5.0, 1.0).unwrap(),
        );
        let dp = recalibrated(DEW_POINT, (21.0, 45.0), cal).unwrap();
        assert!((dp - 9.3).abs() <= 0.05, "{dp}");
        let ah = recalibrated(ABSOLUTE_HUMIDITY, (21.0, 45.0), cal).unwrap();
        assert!((ah - 8.6).abs() <= 0.086, "{ah}");
        assert_eq!(recalibrated("temperature", (21.0, 45.0), cal), None);
        assert!(is_derivable(DEW_POINT) && is_derivable(ABSOLUTE_HUMIDITY));
        assert!(!is_derivable("humidity"));
    }
}
