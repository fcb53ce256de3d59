//! Process metrics in the Prometheus text format (version 0.0.4), without a metrics library.
//!
//! [`Metrics`] holds this process' counters and the task-duration histogram as atomics; the task
//! runner increments them. [`render`] writes them, together with a snapshot of the shared queue
//! ([`QueueStats`], the same for every process on one Redis), as the text a Prometheus server
//! scrapes from `/metrics` (`mtx-api` on its own port, `mtx-worker` on `MTX_METRICS_PORT`).
//!
//! Counters only ever grow while the process lives; Prometheus' `rate()` handles the reset a
//! restart brings.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::scheduler::{QueueStats, Scheduler};

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A scrape must answer even when Redis does not; past this, the queue is reported down.
const QUEUE_STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bounds (seconds) of the task-duration histogram's buckets; `+Inf` is implied. Tenant
/// operations take from milliseconds (nothing to change) to minutes (a large rebuild).
pub const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
];

/// How a task attempt ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    Finished,
    Failed,
    TimedOut,
    Cancelled,
    /// Failed, and queued again for another attempt after a backoff.
    Retried,
    /// Handed back unfinished on shutdown.
    HandedBack,
}

/// The counters of one process. Cheap to update from any thread; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    finished: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
    retried: AtomicU64,
    handed_back: AtomicU64,
    lease_expiries: AtomicU64,
    in_flight: AtomicU64,
    /// Per bucket of [`DURATION_BUCKETS`] plus `+Inf`: attempts that took at most that long
    /// (not cumulative here; [`render`] accumulates).
    duration_buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    duration_count: AtomicU64,
    /// Sum of all durations, in microseconds (an integer keeps the atomics simple).
    duration_sum_us: AtomicU64,
}

/// A consistent-enough copy of the counters (each value is read once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub finished: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    pub retried: u64,
    pub handed_back: u64,
    pub lease_expiries: u64,
    pub in_flight: u64,
    /// Cumulative counts per bucket of [`DURATION_BUCKETS`], then `+Inf` (= `duration_count`).
    pub duration_buckets: Vec<u64>,
    pub duration_count: u64,
    pub duration_sum_us: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the end of one task attempt that ran for `duration`.
    pub fn task_ended(&self, end: TaskEnd, duration: Duration) {
        let counter = match end {
            TaskEnd::Finished => &self.finished,
            TaskEnd::Failed => &self.failed,
            TaskEnd::TimedOut => &self.timed_out,
            TaskEnd::Cancelled => &self.cancelled,
            TaskEnd::Retried => &self.retried,
            TaskEnd::HandedBack => &self.handed_back,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let seconds = duration.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.duration_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records leases that expired (found by this process' reaper).
    pub fn leases_expired(&self, n: u64) {
        self.lease_expiries.fetch_add(n, Ordering::Relaxed);
    }

    /// Marks a task as started in this process; the guard marks it ended when dropped, so the
    /// gauge stays right on every path out of the task.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut cumulative = 0;
        let duration_buckets = self
            .duration_buckets
            .iter()
            .map(|b| {
                cumulative += b.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        Snapshot {
            finished: self.finished.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            handed_back: self.handed_back.load(Ordering::Relaxed),
            lease_expiries: self.lease_expiries.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            // The count is the `+Inf` bucket, so that `_count` and the last bucket agree even
            // while other threads record.
            duration_count: cumulative,
            duration_buckets,
            duration_sum_us: self.duration_sum_us.load(Ordering::Relaxed),
        }
    }
}

/// Keeps a task counted in `mtx_tasks_in_flight` until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The Prometheus text exposition of `metrics` and, when the queue answered, of `queue`.
/// `mtx_queue_up` says whether it did (a scrape never fails because Redis is away).
pub fn render(metrics: &Snapshot, queue: Option<&QueueStats>) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |v: u64| vec![(String::new(), v.to_string())];

    family(
        "mtx_queue_up",
        "gauge",
        "Whether the queue answered for this scrape (1) or not (0).",
        &plain(u64::from(queue.is_some())),
    );
    if let Some(q) = queue {
        family(
            "mtx_queue_depth",
            "gauge",
            "Tasks waiting to be claimed, per lane.",
            &[
                (
                    r#"{lane="provisioning"}"#.to_owned(),
                    q.queued_provisioning.to_string(),
                ),
                (r#"{lane="bulk"}"#.to_owned(), q.queued_bulk.to_string()),
            ],
        );
        family(
            "mtx_queue_delayed",
            "gauge",
            "Tasks waiting for their retry backoff to pass.",
            &plain(q.delayed),
        );
        let running: Vec<(String, String)> = q
            .running
            .iter()
            .map(|(db, n)| {
                (
                    format!("{{database=\"{}\"}}", label_value(db.as_str())),
                    n.to_string(),
                )
            })
            .collect();
        family(
            "mtx_tasks_running",
            "gauge",
            "Tasks running, across all workers, per database (databases with none are omitted).",
            &running,
        );
    }
    family(
        "mtx_tasks_in_flight",
        "gauge",
        "Tasks this process is executing now.",
        &plain(metrics.in_flight),
    );
    let outcomes = [
        ("finished", metrics.finished),
        ("failed", metrics.failed),
        ("timeout", metrics.timed_out),
        ("cancelled", metrics.cancelled),
    ];
    family(
        "mtx_tasks_completed_total",
        "counter",
        "Task attempts this process ended for good, by outcome.",
        &outcomes
            .iter()
            .map(|(o, v)| (format!("{{outcome=\"{o}\"}}"), v.to_string()))
            .collect::<Vec<_>>(),
    );
    family(
        "mtx_task_retries_total",
        "counter",
        "Failed task attempts this process queued again for another attempt.",
        &plain(metrics.retried),
    );
    family(
        "mtx_tasks_handed_back_total",
        "counter",
        "Unfinished tasks this process handed back on shutdown.",
        &plain(metrics.handed_back),
    );
    family(
        "mtx_lease_expiries_total",
        "counter",
        "Task leases this process found expired (their worker died or stalled).",
        &plain(metrics.lease_expiries),
    );
    let mut histogram: Vec<(String, String)> = DURATION_BUCKETS
        .iter()
        .zip(&metrics.duration_buckets)
        .map(|(bound, n)| (format!("_bucket{{le=\"{bound}\"}}"), n.to_string()))
        .collect();
    histogram.push((
        r#"_bucket{le="+Inf"}"#.to_owned(),
        metrics.duration_count.to_string(),
    ));
    histogram.push((
        "_sum".to_owned(),
        format!("{}", metrics.duration_sum_us as f64 / 1e6),
    ));
    histogram.push(("_count".to_owned(), metrics.duration_count.to_string()));
    family(
        "mtx_task_duration_seconds",
        "histogram",
        "How long task attempts ran in this process.",
        &histogram,
    );
    out
}

/// A whole `/metrics` answer: `metrics`, and the queue's state as `scheduler` reports it within
/// two seconds (else `mtx_queue_up 0`).
pub async fn scrape(metrics: &Metrics, scheduler: &dyn Scheduler) -> String {
    let stats = match tokio::time::timeout(QUEUE_STATS_TIMEOUT, scheduler.stats()).await {
        Ok(Ok(stats)) => Some(stats),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "queue statistics unavailable for /metrics");
            None
        }
        Err(_) => {
            tracing::warn!("queue statistics timed out for /metrics");
            None
        }
    };
    render(&metrics.snapshot(), stats.as_ref())
}

/// Escapes a label value as the text format requires (backslash, quote, newline). Database ids
/// are validated identifiers already; this keeps the output well-formed whatever they hold.
fn label_value(raw: &str) -> String {
    raw.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::DatabaseId;

    fn db(id: &str) -> DatabaseId {
        DatabaseId::parse(id).expect("valid database id")
    }

    /// The value of the sample whose name and labels are exactly `series`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_and_histogram_move_with_recorded_tasks() {
        let m = Metrics::new();
        m.task_ended(TaskEnd::Finished, Duration::from_millis(5));
        m.task_ended(TaskEnd::Finished, Duration::from_millis(300));
        m.task_ended(TaskEnd::Failed, Duration::from_secs(400));
        m.task_ended(TaskEnd::Retried, Duration::from_millis(30));
        m.leases_expired(2);
        let text = render(&m.snapshot(), None);

        assert_eq!(
            sample(&text, r#"mtx_tasks_completed_total{outcome="finished"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_tasks_completed_total{outcome="failed"}"#),
            Some(1.0)
        );
        assert_eq!(sample(&text, "mtx_task_retries_total"), Some(1.0));
        assert_eq!(sample(&text, "mtx_lease_expiries_total"), Some(2.0));
        // Buckets are cumulative: 5 ms ≤ 0.01; 30 ms ≤ 0.05; 300 ms ≤ 0.5; 400 s only in +Inf.
        assert_eq!(
            sample(&text, r#"mtx_task_duration_seconds_bucket{le="0.01"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_task_duration_seconds_bucket{le="0.05"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_task_duration_seconds_bucket{le="0.5"}"#),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_task_duration_seconds_bucket{le="300"}"#),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_task_duration_seconds_bucket{le="+Inf"}"#),
            Some(4.0)
        );
        assert_eq!(sample(&text, "mtx_task_duration_seconds_count"), Some(4.0));
        let sum = sample(&text, "mtx_task_duration_seconds_sum").expect("sum present");
        assert!((sum - 400.335).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn queue_stats_are_rendered_per_lane_and_database() {
        let stats = QueueStats {
            queued_provisioning: 3,
            queued_bulk: 9_000,
            delayed: 1,
            running: vec![(db("db1"), 2), (db("db2"), 1)],
        };
        let text = render(&Snapshot::default(), Some(&stats));
        assert_eq!(sample(&text, "mtx_queue_up"), Some(1.0));
        assert_eq!(
            sample(&text, r#"mtx_queue_depth{lane="provisioning"}"#),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, r#"mtx_queue_depth{lane="bulk"}"#),
            Some(9000.0)
        );
        assert_eq!(sample(&text, "mtx_queue_delayed"), Some(1.0));
        assert_eq!(
            sample(&text, r#"mtx_tasks_running{database="db2"}"#),
            Some(1.0)
        );
        let down = render(&Snapshot::default(), None);
        assert_eq!(sample(&down, "mtx_queue_up"), Some(0.0));
        assert!(!down.contains("mtx_queue_depth"), "{down}");
    }

    #[test]
    fn every_sample_belongs_to_a_declared_family_and_parses() {
        let m = Metrics::new();
        m.task_ended(TaskEnd::Cancelled, Duration::from_millis(1));
        let text = render(
            &m.snapshot(),
            Some(&QueueStats {
                running: vec![(db("main"), 1)],
                ..QueueStats::default()
            }),
        );
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has name and kind");
                declared.push((name.to_owned(), kind.to_owned()));
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            value.parse::<f64>().expect("value is a number");
            let name = series.split('{').next().expect("name");
            let owner = declared.iter().rev().find(|(family, kind)| {
                name == family
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name == format!("{family}{s}")))
            });
            assert!(owner.is_some(), "sample {line} has no family");
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with("\"}")),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn in_flight_gauge_follows_the_guard() {
        let m = Metrics::new();
        let guard = m.in_flight();
        assert_eq!(m.snapshot().in_flight, 1);
        drop(guard);
        assert_eq!(m.snapshot().in_flight, 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
