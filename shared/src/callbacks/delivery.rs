//! The delivery loop: claims due callbacks from the control plane, sends them and records every
//! attempt. Runs in `mtx-api` and in every `mtx-worker`; the claim (a lease on the callback row)
//! makes sure one process sends each attempt, and a process that dies mid-attempt only delays
//! the callback until its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::token::TokenClient;
use super::{body, next_step, target};
use crate::config::{CallbacksConfig, SaasRegistryConfig};
use crate::control::{ControlError, ControlStore};
use crate::vocab::{CallbackAttempt, DueCallback, NextStep};

/// Callbacks claimed at once, at most.
const MAX_BATCH: u32 = 50;

/// Sends due callbacks until shut down.
#[derive(Debug)]
pub struct Deliverer {
    control: Arc<dyn ControlStore>,
    tokens: TokenClient,
    http: reqwest::Client,
    registry_base: String,
    config: CallbacksConfig,
    /// When the next request may be sent (the rate limit).
    next_send: tokio::sync::Mutex<Instant>,
}

impl Deliverer {
    /// A deliverer for the registry described by `registry`. Redirects are never followed: a
    /// redirect could lead the bearer token off the registry's origin.
    pub fn new(
        control: Arc<dyn ControlStore>,
        registry: SaasRegistryConfig,
        config: CallbacksConfig,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            control,
            tokens: TokenClient::new(http.clone(), registry.clone()),
            http,
            registry_base: registry.saas_registry_url,
            config,
            next_send: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// Delivers due callbacks every `poll` interval until `shutdown` is cancelled. An attempt in
    /// flight is finished (it is bounded by the request timeout) before returning.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let sent = match self.deliver_due(&shutdown).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming due callbacks failed");
                    0
                }
            };
            if shutdown.is_cancelled() {
                return;
            }
            if sent == 0 {
                tokio::select! {
                    () = tokio::time::sleep(self.config.poll) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }

    /// One round: claims what is due and sends it, paced by the rate limit. Returns how many
    /// attempts were made.
    pub async fn deliver_due(&self, shutdown: &CancellationToken) -> Result<usize, ControlError> {
        let rate = self.config.rate_per_second.max(1);
        let batch = rate.min(MAX_BATCH);
        // The lease covers pacing the whole batch plus one request each, with room to spare;
        // until it ends no other process sends these callbacks.
        let pacing = Duration::from_secs_f64(f64::from(batch) / f64::from(rate));
        let lease = pacing + self.config.request_timeout * 2 + Duration::from_secs(5);
        let due = self
            .control
            .claim_due_callbacks(batch as usize, lease)
            .await?;
        let mut sent = 0;
        for callback in due {
            if shutdown.is_cancelled() {
                // Hand the rest back so the next process sends it without waiting for the lease.
                if let Err(e) = self
                    .control
                    .release_callback_claim(&callback.job_id, callback.attempt)
                    .await
                {
                    tracing::warn!(job.id = %callback.job_id, error = %e, "could not hand back a callback claim; it is retried when the claim expires");
                }
                continue;
            }
            self.pace(rate).await;
            let span = tracing::info_span!(
                "callback",
                job.id = %callback.job_id,
                job.op = %callback.op,
                callback.attempt = callback.attempt,
            );
            self.deliver(&callback).instrument(span).await;
            sent += 1;
        }
        Ok(sent)
    }

    async fn pace(&self, rate: u32) {
        let interval = Duration::from_secs(1) / rate;
        let mut next = self.next_send.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = Instant::now().max(*next) + interval;
    }

    async fn deliver(&self, due: &DueCallback) {
        let started = std::time::Instant::now();
        let (http_status, error, next) = self.send(due).await;
        let duration_ms = started.elapsed().as_millis();
        match (&next, &error) {
            (NextStep::Delivered, _) => {
                tracing::info!(http.status = http_status, duration_ms, "callback delivered")
            }
            (NextStep::RetryAt(at), Some(e)) => {
                tracing::warn!(http.status = http_status, duration_ms, error = %e, retry_at = %at, "callback failed; will retry");
            }
            (_, e) => {
                tracing::warn!(http.status = http_status, duration_ms, error = ?e, "callback given up")
            }
        }
        let attempt = CallbackAttempt {
            number: due.attempt,
            at: Utc::now(),
            http_status,
            error,
        };
        match self
            .control
            .record_callback_attempt(&due.job_id, &attempt, next)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "callback attempt recorded late: another process took the callback over"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not record the callback attempt; it is retried when its claim expires")
            }
        }
    }

    /// Sends one attempt: `(HTTP status, error, what next)`.
    async fn send(&self, due: &DueCallback) -> (Option<u16>, Option<String>, NextStep) {
        let retry = |error: String, status: Option<u16>| {
            (
                status,
                Some(error),
                next_step(&self.config, due.ended_at, due.attempt, Utc::now()),
            )
        };
        if !target::same_origin(&self.registry_base, &due.url) {
            return (
                None,
                Some("the callback target is not on the SaaS registry's origin".to_owned()),
                NextStep::GiveUp,
            );
        }
        let token = match self.tokens.token().await {
            Ok(t) => t,
            Err(e) => return retry(e.to_string(), None),
        };
        let response = self
            .http
            .put(&due.url)
            .bearer_auth(token)
            .json(&body(due))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                (Some(r.status().as_u16()), None, NextStep::Delivered)
            }
            Ok(r) => {
                let status = r.status();
                if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    self.tokens.invalidate().await;
                }
                retry(
                    format!("the registry answered {status}"),
                    Some(status.as_u16()),
                )
            }
            Err(e) => retry(e.without_url().to_string(), None),
        }
    }
}
