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

impl BucketPlan {
    /// Plans at most `points` aligned buckets covering `[from, to)`.
    pub fn new(from: Millis, to: Millis, points: usize) -> Result<Self, String> {
        if to <= from {
            return Err("'to' must be after 'from'".into());
        }
        if points == 0 || points > MAX_POINTS {
            return Err(format!("points must be between 1 and {MAX_POINTS}"));
        }
        let span = to - from;
        let min_width = (span + points as Millis - 1) / points as Millis;
        let mut candidates = WIDTHS
            .iter()
            .copied()
            .filter(|w| *w >= min_width)
            .chain((1..).map(|d| d * DAY).skip_while(|w| *w < min_width));
        loop {
            let width = candidates.next().expect("widths are unbounded");
            let start = from.div_euclid(width) * width;
            let count = ((to - start + width - 1) / width) as usize;
            if count <= points {
                return Ok(BucketPlan {
                    start,
                    width,
                    count,
                });
            }
        }
    }

    /// The bucket holding time `t`, if it is inside the plan.
    pub fn index(&self, t: Millis) -> Option<usize> {
        if t < self.start {
            return None;
        }
        let i = ((t - self.start) / self.width) as usize;
        (i < self.count).then_some(i)
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
