//! Latency summaries.

use std::time::Duration;

use serde::Serialize;

/// A summary of latency samples, in milliseconds (fractional, so sub-millisecond calls are not
/// rounded to zero).
///
/// Percentiles use the nearest-rank method: p99 of 100 samples is the 99th smallest, and it is
/// always one of the measured values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarises `samples`; `None` when there are none (a percentile of nothing is no number).
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        let count = sorted.len();
        let max = sorted.last().copied().unwrap_or_default();
        Some(Self {
            count,
            p50_ms: millis(nearest_rank(&sorted, 50)),
            p99_ms: millis(nearest_rank(&sorted, 99)),
            max_ms: millis(max),
            mean_ms: millis(total) / count as f64,
        })
    }
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, mean {:.1} ms ({} samples)",
            self.p50_ms, self.p99_ms, self.max_ms, self.mean_ms, self.count
        )
    }
}

/// The value at `percentile` (1–100) of ascending `sorted` by nearest rank; zero when empty.
fn nearest_rank(sorted: &[Duration], percentile: usize) -> Duration {
    // rank = ceil(p/100 * n), 1-based; clamped so p in 1..=100 always lands inside the slice.
    let n = sorted.len();
    let rank = (percentile * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Milliseconds as a float.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Items per second over `wall`; zero when no time passed (nothing was measured).
pub fn per_second(items: usize, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { items as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn no_samples_give_no_summary() {
        assert_eq!(LatencySummary::of(&[]), None);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let s = LatencySummary::of(&ms([7])).expect("one sample");
        assert_eq!(
            (s.p50_ms, s.p99_ms, s.max_ms, s.mean_ms),
            (7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn percentiles_use_nearest_rank_regardless_of_input_order() {
        // 1..=100 ms shuffled: p50 is the 50th value, p99 the 99th.
        let mut values: Vec<u64> = (1..=100).collect();
        values.reverse();
        values.swap(3, 70);
        let s = LatencySummary::of(&ms(values)).expect("samples");
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(s.mean_ms, 50.5);
    }

    #[test]
    fn p99_of_few_samples_is_the_largest() {
        let s = LatencySummary::of(&ms([1, 2, 3, 1000])).expect("samples");
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 1000.0);
    }

    #[test]
    fn rate_of_zero_time_is_zero() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(10, Duration::from_secs(2)), 5.0);
    }
}
