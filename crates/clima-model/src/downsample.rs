//! Downsampling for charts: splits a time range into at most N aligned buckets and reduces
//! values (or partial aggregates from the store) into mean, min, max and count per bucket.

use crate::{Millis, DAY, HOUR, MINUTE, SECOND};

/// Bucket widths a plan may use. Round widths keep bucket edges still while a live chart
/// refreshes, and line up with minute and hour rollups.
const WIDTHS: &[Millis] = &[
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
];

/// Most buckets one query may ask for.
pub const MAX_POINTS: usize = 10_000;

/// How a range `[from, to)` is cut into buckets: `count` buckets of `width` starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketPlan {
    pub start: Millis,
    pub width: Millis,
    pub count: usize,
}

/// Whole-day widths tried one by one before [`BucketPlan::new`] settles for one it knows fits.
const DAY_WIDTHS_TRIED: i128 = 100_000;

impl BucketPlan {
    /// Plans at most `points` aligned buckets covering `[from, to)`: the narrowest round width
    /// that fits, or past [`DAY_WIDTHS_TRIED`] whole days, a wider one that surely does.
    ///
    /// Buckets are aligned to the epoch, so one bucket never holds both sides of
    /// 1970-01-01T00:00:00Z: a range across it needs at least 2 points.
    pub fn new(from: Millis, to: Millis, points: usize) -> Result<Self, String> {
        if to <= from {
            return Err("'to' must be after 'from'".into());
        }
        if points == 0 || points > MAX_POINTS {
            return Err(format!("points must be between 1 and {MAX_POINTS}"));
        }
        // In i128, so that no range of i64 times overflows.
        let (from, to, n, day) = (
            i128::from(from),
            i128::from(to),
            points as i128,
            i128::from(DAY),
        );
        let span = to - from;
        let min_width = (span + n - 1) / n;
        // A width that surely fits: with n - 1 widths past `from`, n buckets reach `to`; a
        // single bucket needs the whole range on one side of the epoch.
        let enough = if n > 1 {
            (span + n - 2) / (n - 1)
        } else if from >= 0 {
            to
        } else if to <= 0 {
            -from
        } else {
            return Err(
                "a range across 1970-01-01T00:00:00Z needs at least 2 points: one bucket \
                 cannot hold both sides of it"
                    .into(),
            );
        };
        let enough = (enough.max(min_width) + day - 1) / day * day;
        let first_day = ((min_width + day - 1) / day).max(1);
        let last_day = (enough / day).min(first_day + DAY_WIDTHS_TRIED);
        let candidates = WIDTHS
            .iter()
            .map(|w| i128::from(*w))
            .filter(|w| *w >= min_width)
            .chain((first_day..=last_day).map(|d| d * day))
            .chain(std::iter::once(enough));
        for width in candidates {
            let start = from.div_euclid(width) * width;
            let count = (to - start + width - 1) / width;
            if count <= n {
                let fit = |v: i128| Millis::try_from(v).ok();
                return match (fit(start), fit(width), fit(start + width * count)) {
                    (Some(start), Some(width), Some(_end)) => Ok(BucketPlan {
                        start,
                        width,
                        count: count as usize,
                    }),
                    _ => Err("the range is too wide for its buckets' edges to be times".into()),
                };
            }
        }
        unreachable!("a width of {enough} ms fits [{from}, {to}) in {points} buckets")
    }

    /// The bucket holding time `t`, if it is inside the plan.
    pub fn index(&self, t: Millis) -> Option<usize> {
        if t < self.start {
            return None;
        }
        let i = (i128::from(t) - i128::from(self.start)) / i128::from(self.width);
        (i < self.count as i128).then_some(i as usize)
    }

    /// The first millisecond after the last bucket.
    pub fn end(&self) -> Millis {
        self.start + self.width * self.count as Millis
    }
}

/// A mergeable aggregate of some values: the form both raw rows and rollups reduce to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub count: u64,
}

impl Partial {
    pub fn of(v: f64) -> Self {
        Partial {
            sum: v,
            min: v,
            max: v,
            count: 1,
        }
    }

    pub fn merge(&mut self, o: &Partial) {
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.count += o.count;
    }
}

/// One chart point. A bucket with `count == 0` is a gap and has no values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bucket {
    /// Start of the bucket, unix milliseconds.
    pub t: Millis,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub count: u64,
}

/// Lays partial aggregates (by bucket index, any order, repeats merged) out as the plan's buckets.
pub fn assemble(
    plan: &BucketPlan,
    partials: impl IntoIterator<Item = (usize, Partial)>,
) -> Vec<Bucket> {
    let mut acc: Vec<Option<Partial>> = vec![None; plan.count];
    for (i, p) in partials {
        if let Some(slot) = acc.get_mut(i) {
            match slot {
                Some(existing) => existing.merge(&p),
                None => *slot = Some(p),
            }
        }
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let t = plan.start + plan.width * i as Millis;
            match p {
                Some(p) if p.count > 0 => Bucket {
                    t,
                    mean: Some(p.sum / p.count as f64),
                    min: Some(p.min),
                    max: Some(p.max),
                    count: p.count,
                },
                _ => Bucket {
                    t,
                    mean: None,
                    min: None,
                    max: None,
                    count: 0,
                },
            }
        })
        .collect()
}

/// Buckets raw samples; the reference the store's SQL aggregation is tested against.
pub fn bucketize(
    plan: &BucketPlan,
    samples: impl IntoIterator<Item = (Millis, f64)>,
) -> Vec<Bucket> {
    assemble(
        plan,
        samples
            .into_iter()
            .filter_map(|(t, v)| Some((plan.index(t)?, Partial::of(v)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let check = |from, to, points, expected: (Millis, Millis, usize)| {
            let p = BucketPlan::new(from, to, points).unwrap();
            assert_eq!(
                (p.start, p.width, p.count),
                expected,
                "{from}..{to}/{points}"
            );
            assert!(p.count <= points);
            assert!(p.start <= from && p.end() >= to);
        };
        check(0, HOUR, 60, (0, MINUTE, 60));
        check(0, HOUR, 100, (0, MINUTE, 60));
        check(30 * SECOND, HOUR + 30 * SECOND, 60, (0, 2 * MINUTE, 31));
        check(0, 30 * DAY, 1000, (0, HOUR, 720));
        check(0, 365 * DAY, 1000, (0, 12 * HOUR, 730));
        check(0, 3650 * DAY, 100, (0, 37 * DAY, 99));
        check(0, 10, 10_000, (0, 1, 10));
        check(-5, 5, 10, (-5, 1, 10));
        assert!(BucketPlan::new(10, 10, 5).is_err());
        assert!(BucketPlan::new(0, 10, 0).is_err());
        assert!(BucketPlan::new(0, 10, MAX_POINTS + 1).is_err());
    }

    /// Found by fuzz/query_string: `?from=-1&to=1&points=1` spun through ever wider day
    /// buckets (about nine minutes in a release build, then a wrapped, empty plan; an overflow
    /// panic in a debug build), as no aligned bucket holds both sides of the epoch.
    #[test]
    fn plans_end_for_any_range() {
        let across = BucketPlan::new(-SECOND, SECOND, 1).unwrap_err();
        assert!(across.contains("at least 2 points"), "{across}");
        let bound = 1_000_000_000_000_000; // the largest time `from_text` accepts
        assert!(BucketPlan::new(-bound, bound, 1).is_err());
        for (from, to, points) in [
            (-SECOND, SECOND, 2),
            (-bound, bound, 2),
            (-bound, bound, 3),
            (-bound, -bound / 2, 1),
            (bound / 2, bound, 1),
            (0, bound, 1),
            (-bound, 0, 1),
            (i64::MIN, i64::MAX, 2),
            (i64::MIN, i64::MIN + 1, 1),
            (i64::MAX - 1, i64::MAX, 1),
            (-5 * DAY - 1, 5 * DAY, MAX_POINTS),
        ] {
            match BucketPlan::new(from, to, points) {
                Ok(p) => {
                    assert!(p.count >= 1 && p.count <= points, "{p:?}");
                    assert!(p.start <= from && p.start.rem_euclid(p.width) == 0, "{p:?}");
                    assert!(p.end() >= to, "{p:?}");
                    assert_eq!(p.index(from), Some(0));
                    assert_eq!(p.index(to - 1), Some(p.count - 1));
                }
                // Edges past the i64 range.
                Err(e) => assert!(e.contains("too wide"), "[{from}, {to}) {points}: {e}"),
            }
        }
        assert_eq!(
            BucketPlan::new(-SECOND, SECOND, 2),
            Ok(BucketPlan {
                start: -SECOND,
                width: SECOND,
                count: 2
            })
        );
    }

    #[test]
    fn gaps_and_aggregates() {
        let plan = BucketPlan::new(0, 4 * MINUTE, 4).unwrap();
        let samples = [
            (0, 1.0),
            (59_999, 3.0),
            (2 * MINUTE, 10.0),
            (5 * MINUTE, 99.0),
            (-1, 99.0),
        ];
        let b = bucketize(&plan, samples);
        assert_eq!(b.len(), 4);
        assert_eq!(
            (b[0].mean, b[0].min, b[0].max, b[0].count),
            (Some(2.0), Some(1.0), Some(3.0), 2)
        );
        assert_eq!(
            (b[1].mean, b[1].count),
            (None, 0),
            "an empty bucket is a visible gap"
        );
        assert_eq!((b[2].t, b[2].mean, b[2].count), (2 * MINUTE, Some(10.0), 1));
        assert_eq!(b[3].count, 0);
    }

    #[test]
    fn partials_merge_like_raw_values() {
        let plan = BucketPlan::new(0, 100, 10).unwrap();
        let raw: Vec<(Millis, f64)> = (0..100).map(|t| (t, (t * 7 % 13) as f64)).collect();
        let direct = bucketize(&plan, raw.iter().copied());
        let halves = raw.chunks(3).flat_map(|chunk| {
            chunk
                .iter()
                .map(|(t, v)| (plan.index(*t).unwrap(), Partial::of(*v)))
        });
        assert_eq!(assemble(&plan, halves), direct);
    }
}
