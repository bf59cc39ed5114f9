//! What `/readyz` answers, for the node and the persister alike: every required backing service
//! answering within its time, and the process not draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_shared::ports::Probe;

pub struct Readiness {
    draining: AtomicBool,
    probes: Vec<Arc<dyn Probe>>,
    /// Services the node serves without, in a lesser way (presence without Redis).
    optional: Vec<Arc<dyn Probe>>,
}

/// How long a probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a process is not ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// It is shutting down: balancers should send new clients elsewhere.
    #[error("draining")]
    Draining,
    /// Required services failed their checks, each named with why, e.g. `postgres: unreachable`.
    #[error("{}", .0.join("; "))]
    Failing(Vec<String>),
}

/// What a ready node reports about the services it can do without.
pub struct Ready {
    /// e.g. `redis: unreachable (presence degraded)`.
    pub degraded: Vec<String>,
}

impl Readiness {
    pub fn new(probes: Vec<Arc<dyn Probe>>, optional: Vec<Arc<dyn Probe>>) -> Self {
        Self { draining: AtomicBool::new(false), probes, optional }
    }

    /// From now on the node reports not ready, so balancers stop sending it new clients.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `Ok` when ready (with what is degraded), else why not.
    pub async fn check(&self) -> Result<Ready, NotReady> {
        if self.is_draining() {
            return Err(NotReady::Draining);
        }
        let failed = failures(&self.probes).await;
        if !failed.is_empty() {
            return Err(NotReady::Failing(failed));
        }
        let degraded = failures(&self.optional).await;
        metrics::gauge!("chat_degraded").set(degraded.len() as f64);
        Ok(Ready { degraded })
    }
}

async fn failures(probes: &[Arc<dyn Probe>]) -> Vec<String> {
    let checks = probes.iter().map(|probe| async move {
        match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(format!("{}: {why}", probe.name())),
            Err(_) => Some(format!("{}: no answer within {}s", probe.name(), PROBE_TIMEOUT.as_secs())),
        }
    });
    futures::future::join_all(checks).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use chat_shared::ports::ProbeError;

    use super::*;

    /// A dependency whose check answers at once, or never.
    struct Fixed(&'static str, Option<Result<(), ProbeError>>);

    #[async_trait::async_trait]
    impl Probe for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }

        async fn check(&self) -> Result<(), ProbeError> {
            match &self.1 {
                Some(result) => result.clone(),
                None => std::future::pending().await,
            }
        }
    }

    fn probe(name: &'static str, answer: Option<Result<(), ProbeError>>) -> Arc<dyn Probe> {
        Arc::new(Fixed(name, answer))
    }

    #[tokio::test(start_paused = true)]
    async fn every_failing_required_probe_is_named_with_why() {
        let readiness = Readiness::new(
            vec![
                probe("postgres", Some(Err(ProbeError::Unreachable))),
                probe("sqlite", Some(Ok(()))),
                probe("nats", None),
            ],
            Vec::new(),
        );
        let why = readiness.check().await.err().unwrap();
        assert_eq!(
            why,
            NotReady::Failing(vec!["postgres: unreachable".into(), "nats: no answer within 2s".into()])
        );
        assert_eq!(why.to_string(), "postgres: unreachable; nats: no answer within 2s");
    }

    #[tokio::test]
    async fn an_optional_service_down_is_reported_as_degraded_not_unready() {
        let readiness = Readiness::new(
            vec![probe("postgres", Some(Ok(())))],
            vec![probe("redis", Some(Err(ProbeError::Connecting)))],
        );
        let ready = readiness.check().await.unwrap();
        assert_eq!(ready.degraded, ["redis: connecting"]);
    }

    #[tokio::test]
    async fn a_draining_process_is_not_ready_whatever_its_services() {
        let readiness = Readiness::new(vec![probe("postgres", Some(Ok(())))], Vec::new());
        assert!(readiness.check().await.is_ok());
        readiness.start_draining();
        assert!(readiness.is_draining());
        assert_eq!(readiness.check().await.err(), Some(NotReady::Draining));
    }
}
