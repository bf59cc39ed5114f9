//! SQLite's errors sorted into what the ports promise: unavailable (retry later) or not.

use chat_shared::ports::StoreError;

/// Sorts a driver error into what a caller can act on: a locked, full or failing disk, or a
/// pool that gave up waiting, is `Unavailable`.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) { StoreError::unavailable(err) } else { StoreError::other(err) }
}

pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // The primary result code is the low byte of the extended one: 5 BUSY, 6 LOCKED,
            // 10 IOERR, 13 FULL, 14 CANTOPEN.
            let primary = db.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
            matches!(primary, Some(5 | 6 | 10 | 13 | 14))
        }
        _ => false,
    }
}

/// Whether the error is a violation of the named unique index. SQLite names an index on
/// expressions in its message ("UNIQUE constraint failed: index 'name'"), not as a constraint.
pub(crate) fn violates(err: &sqlx::Error, index: &str) -> bool {
    err.as_database_error().is_some_and(|db| {
        matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) && db.message().contains(index)
    })
}
