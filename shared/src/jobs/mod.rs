//! Jobs: the vocabulary ([`types`]), the service that enqueues and reports them ([`service`]),
//! and the runner that executes claimed tasks ([`runner`]).

mod recorder;
pub mod runner;
pub mod service;
pub mod types;

pub use types::*;
