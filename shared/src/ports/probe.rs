//! Readiness checks of the services a process depends on.

/// A dependency a process needs to serve, checked by `/readyz`.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// A short name for the reason text, e.g. `postgres`.
    fn name(&self) -> &'static str;
    /// `Ok` when the dependency answers; the error says why not.
    async fn check(&self) -> Result<(), ProbeError>;
}

/// Why a dependency failed its readiness check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No connection to it is up.
    #[error("unreachable")]
    Unreachable,
    /// The client is (re)connecting.
    #[error("connecting")]
    Connecting,
    /// It answered the check with an error.
    #[error("{0}")]
    Failed(String),
}
