//! The orchestration of jobs: the service that turns an operation over tenants into a job and
//! reports on it ([`service`]), and the runner that executes claimed tasks ([`runner`]), with the
//! recorder that writes their outcomes in batches.

mod recorder;
pub mod runner;
pub mod service;
