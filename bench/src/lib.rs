//! The benchmark harness: drives a running sidecar over HTTP, with the cds-mtxs wire API, and
//! reports throughput and latency.
//!
//! # Layout
//! - [`args`] turns the command line into a [`args::Command`] (one params struct per scenario).
//! - [`client`] is the HTTP client of the sidecar: enqueue (subscribe, unsubscribe, upgrade) with
//!   `prefer: respond-async`, honouring `429` + `Retry-After`, and `pollJob`. Every unexpected
//!   answer becomes a [`client::CallError`]; nothing panics on a bad response.
//! - [`wait`] polls a set of jobs until each reaches a final state (or a deadline passes).
//! - [`scenario`] holds the three benchmarks (`provision`, `enqueue-latency`, `poll-latency`);
//!   each returns a serialisable report that prints itself for humans.
//! - [`stats`] summarises latency samples (p50, p99, max).
//!
//! Data flows args → scenario → client (+ wait) → report → stdout (and one JSON line with
//! `--json`).

pub mod args;
pub mod client;
pub mod scenario;
pub mod stats;
pub mod wait;
