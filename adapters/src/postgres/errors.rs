//! PostgreSQL's errors sorted into what the ports promise: unavailable (retry later) or not.

use chat_shared::ports::StoreError;

/// Sorts a driver error into what a caller can act on: connection trouble is `Unavailable`.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) { StoreError::unavailable(err) } else { StoreError::other(err) }
}

/// Whether retrying later may succeed: the database is unreachable or refusing work.
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            true
        }
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57P: operator intervention.
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        }),
        _ => false,
    }
}

/// Whether the error is a violation of the named unique constraint or index.
pub(crate) fn violates(err: &sqlx::Error, constraint: &str) -> bool {
    err.as_database_error().and_then(|db| db.constraint()).is_some_and(|c| c == constraint)
}
