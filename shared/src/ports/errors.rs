//! The failure of a storage port, and the boxed source errors the ports carry.

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The failure of a storage port, split by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or is refusing work; retrying later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug, corrupt data, a violated invariant.
    #[error("store failure")]
    Other(#[source] BoxError),
}

impl StoreError {
    pub fn other(err: impl Into<BoxError>) -> Self {
        StoreError::Other(err.into())
    }

    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(err.into())
    }
}
