//! The errors a use case reports, in the vocabulary the contract speaks to clients.

use std::collections::BTreeMap;

use crate::ports::{LogError, StoreError};

/// Why a use case refused or failed. Each variant maps to one status and code of the public
/// contract; `Internal` carries the cause for the logs and is never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input")]
    InvalidInput(FieldErrors),
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many attempts lately; `limit` names which quota is spent.
    #[error("rate limited by {limit}")]
    RateLimited { limit: &'static str, retry_after: std::time::Duration },
    #[error("a backing service is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A single-field validation failure.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        let mut fields = FieldErrors::default();
        fields.add(field, reason);
        Error::InvalidInput(fields)
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(source) => Error::Unavailable(source),
            StoreError::Other(source) => Error::Internal(source),
        }
    }
}

impl From<LogError> for Error {
    fn from(err: LogError) -> Self {
        match err {
            LogError::Unavailable(source) => Error::Unavailable(source),
            LogError::Other(source) => Error::Internal(source),
        }
    }
}

/// Per-field reasons for an `invalid_input` answer, gathered so a client learns every problem
/// with its request at once rather than one per round trip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.0.entry(field.to_owned()).or_insert_with(|| reason.into());
    }

    /// Records the error of a parse result and returns its value, if any.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(reason) => {
                self.add(field, reason.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `Ok(())` when nothing was recorded, else the whole set as an error.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() { Ok(()) } else { Err(Error::InvalidInput(self)) }
    }
}
