//! What `/readyz` answers: every backing service reachable, and the node not draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_shared::ports::Probe;

pub struct Readiness {
    draining: AtomicBool,
    probes: Vec<Arc<dyn Probe>>,
}

impl Readiness {
    pub fn new(probes: Vec<Arc<dyn Probe>>) -> Self {
        Self { draining: AtomicBool::new(false), probes }
    }

    /// From now on the node reports not ready, so balancers stop sending it new clients.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `Ok` when ready, else every reason it is not, e.g. `postgres: unreachable`.
    pub async fn check(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining".into());
        }
        let checks = self.probes.iter().map(|probe| async move {
            match tokio::time::timeout(Duration::from_secs(2), probe.check()).await {
                Ok(Ok(())) => None,
                Ok(Err(why)) => Some(format!("{}: {why}", probe.name())),
                Err(_) => Some(format!("{}: no answer within 2s", probe.name())),
            }
        });
        let failures: Vec<String> = futures::future::join_all(checks).await.into_iter().flatten().collect();
        if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
    }
}
