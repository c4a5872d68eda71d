//! Errors returned by the store, with SQLite constraint failures sorted into their meanings.

use rusqlite::ffi;

/// A failure while opening, migrating, reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Any SQLite failure without a more specific meaning below.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),

    /// A UNIQUE or PRIMARY KEY constraint failed. The text names the columns, as SQLite
    /// reports them, for example `secret_roles.slug`.
    #[error("unique constraint failed: {0}")]
    Conflict(String),

    /// A delete was blocked because other rows still reference the object. Each entry is
    /// `<display> (<id>)` of one dependent object, in id order. The list is empty when SQLite
    /// did not say which rows they were.
    #[error("object is in use by {} dependent objects", .0.len())]
    InUse(Vec<String>),

    /// A FOREIGN KEY constraint failed on insert or update: the referenced row does not exist.
    #[error("a referenced object does not exist")]
    MissingReference,

    /// The row to update or delete does not exist.
    #[error("object not found")]
    NotFound,

    /// A secret role's new parent is the role itself or one of its descendants.
    #[error("a secret role cannot be its own parent or the child of one of its descendants")]
    InvalidParent,

    /// The blocking task that ran the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),

    /// A schema migration failed, so the database stays at the previous version.
    #[error("schema migration to version {version} failed: {source}")]
    Migration {
        version: u32,
        source: rusqlite::Error,
    },

    /// The database was written by a newer release with a schema this binary does not know.
    #[error(
        "database schema version {found} is newer than this binary supports ({supported}); \
         upgrade netbox-secrets-proxy or restore a matching backup"
    )]
    SchemaTooNew { found: u32, supported: u32 },

    /// An import document could not be understood.
    #[error("invalid plugin export: {0}")]
    InvalidExport(String),

    /// An import was requested into a store that already contains rows.
    #[error("the store already contains data; import only into an empty store")]
    NotEmpty,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        let rusqlite::Error::SqliteFailure(failure, message) = &error else {
            return StoreError::Sqlite(error);
        };

        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict(constraint_columns(message.as_deref()))
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::MissingReference,
            _ => StoreError::Sqlite(error),
        }
    }
}

/// Extracts `table.column, …` from SQLite's "UNIQUE constraint failed: …" message.
fn constraint_columns(message: Option<&str>) -> String {
    let message = message.unwrap_or_default();

    match message.split_once(": ") {
        Some((_, columns)) => columns.to_owned(),
        None => message.to_owned(),
    }
}

/// Turns a FOREIGN KEY failure during a delete into `InUse`, because in a delete it can only
/// come from a RESTRICT reference.
pub(crate) fn restrict_to_in_use(error: StoreError) -> StoreError {
    match error {
        StoreError::MissingReference => StoreError::InUse(Vec::new()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(extended_code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), Some(message.to_owned()))
    }

    #[test]
    fn unique_failure_becomes_conflict() {
        let error = StoreError::from(failure(
            ffi::SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: secret_roles.slug",
        ));

        assert!(matches!(error, StoreError::Conflict(ref c) if c == "secret_roles.slug"));
    }

    #[test]
    fn foreign_key_failure_becomes_missing_reference() {
        let error = StoreError::from(failure(
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed",
        ));

        assert!(matches!(error, StoreError::MissingReference));
        assert!(matches!(restrict_to_in_use(error), StoreError::InUse(ref v) if v.is_empty()));
    }

    #[test]
    fn other_failure_stays_sqlite() {
        let error = StoreError::from(failure(ffi::SQLITE_CONSTRAINT_CHECK, "CHECK failed"));

        assert!(matches!(error, StoreError::Sqlite(_)));
    }
}
