//! Histograms with TensorFlow's default buckets, so TensorBoard draws ours as it draws TF's:
//! right edges `±1e-12 * 1.1^k` up to `1e20`, `0`, and `±f64::MAX` at the ends. Runs of empty
//! buckets are collapsed into one when encoding, as TF does.

use super::proto::HistogramProto;
use std::sync::OnceLock;

/// TF's default right bucket edges, increasing: negatives, 0, positives, `f64::MAX`.
pub fn default_bucket_limits() -> &'static [f64] {
    static LIMITS: OnceLock<Vec<f64>> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let mut pos = Vec::new();
        let mut v = 1e-12;
        while v < 1e20 {
            pos.push(v);
            v *= 1.1;
        }
        pos.push(f64::MAX);
        let mut all: Vec<f64> = pos.iter().rev().map(|x| -x).collect();
        all.push(0.0);
        all.extend(pos);
        all
    })
}

/// The histogram of `values` (NaNs are skipped, as TF's `HistogramSummary` rejects them and
/// a training curve is more useful than an error here); empty input gives an empty histogram.
pub fn histogram(values: impl Iterator<Item = f32>) -> HistogramProto {
    let limits = default_bucket_limits();
    let mut counts = vec![0f64; limits.len()];
    let (mut min, mut max, mut num, mut sum, mut sum_sq) = (f64::MAX, -f64::MAX, 0.0, 0.0, 0.0);
    for x in values.filter(|x| !x.is_nan()).map(f64::from) {
        // Bucket i holds values in [limits[i-1], limits[i]): the first edge above x.
        let i = limits.partition_point(|&l| l <= x).min(limits.len() - 1);
        counts[i] += 1.0;
        min = min.min(x);
        max = max.max(x);
        num += 1.0;
        sum += x;
        sum_sq += x * x;
    }
    if num == 0.0 {
        (min, max) = (0.0, 0.0);
    }
    let (mut bucket_limit, mut bucket) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < counts.len() {
        let (mut end, mut count) = (limits[i], counts[i]);
        i += 1;
        if count <= 0.0 {
            while i < counts.len() && counts[i] <= 0.0 {
                (end, count) = (limits[i], counts[i]);
                i += 1;
            }
        }
        bucket_limit.push(end);
        bucket.push(count);
    }
    HistogramProto {
        min,
        max,
        num,
        sum,
        sum_squares: sum_sq,
        bucket_limit,
        bucket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_value_and_stats_are_exact() {
        let xs = [-2.0f32, -0.5, 0.0, 0.25, 0.25, 3.0, 1e30];
        let h = histogram(xs.iter().copied());
        assert_eq!(h.num, 7.0);
        assert_eq!(h.min, -2.0);
        assert_eq!(h.max, 1e30f32 as f64);
        let sum: f64 = xs.iter().map(|&x| x as f64).sum();
        assert_eq!(h.sum, sum);
        assert_eq!(h.bucket.iter().sum::<f64>(), 7.0);
        assert_eq!(h.bucket.len(), h.bucket_limit.len());
        assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*h.bucket_limit.last().unwrap(), f64::MAX);
        // Each value lies below the edge of the bucket that counts it and at or above the
        // previous edge: check by recounting against the encoded edges.
        for (k, &c) in h.bucket.iter().enumerate() {
            let lo = if k == 0 {
                f64::MIN
            } else {
                h.bucket_limit[k - 1]
            };
            let n = xs
                .iter()
                .filter(|&&x| (x as f64) >= lo && (x as f64) < h.bucket_limit[k])
                .count();
            assert_eq!(n as f64, c, "bucket {k} below {}", h.bucket_limit[k]);
        }
    }

    #[test]
    fn default_limits_match_tensorflow() {
        let l = default_bucket_limits();
        // 1e-12 * 1.1^k < 1e20 for k = 0..=773, plus f64::MAX, mirrored, plus 0.
        assert_eq!(l.len(), 2 * 775 + 1);
        assert_eq!(l[775], 0.0);
        assert_eq!(l[776], 1e-12);
        assert_eq!(l[0], -f64::MAX);
    }

    #[test]
    fn empty_and_nan_input() {
        let h = histogram([f32::NAN].into_iter());
        assert_eq!((h.num, h.min, h.max), (0.0, 0.0, 0.0));
        assert_eq!(h.bucket.iter().sum::<f64>(), 0.0);
    }
}
