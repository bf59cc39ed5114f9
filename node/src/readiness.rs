//! What `/readyz` answers: every backing service reachable, and the node not draining.

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

    /// `Ok` when ready (with what is degraded), else every reason it is not, e.g.
    /// `postgres: unreachable`.
    pub async fn check(&self) -> Result<Ready, String> {
        if self.is_draining() {
            return Err("draining".into());
        }
        let failed = failures(&self.probes).await;
        if !failed.is_empty() {
            return Err(failed.join("; "));
        }
        let degraded = failures(&self.optional).await;
        metrics::gauge!("chat_degraded").set(degraded.len() as f64);
        Ok(Ready { degraded })
    }
}

async fn failures(probes: &[Arc<dyn Probe>]) -> Vec<String> {
    let checks = probes.iter().map(|probe| async move {
        match tokio::time::timeout(Duration::from_secs(2), probe.check()).await {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(format!("{}: {why}", probe.name())),
            Err(_) => Some(format!("{}: no answer within 2s", probe.name())),
        }
    });
    futures::future::join_all(checks).await.into_iter().flatten().collect()
}
