//! The encrypted SQLite store: schema migrations and queries, run off the async workers.
//!
//! One writer connection behind a mutex serializes all writes, and a small pool of read-only
//! connections serves reads concurrently thanks to WAL mode. Every closure runs on
//! `tokio::task::spawn_blocking`, so no SQLite call blocks an async worker.

pub mod collation;
mod columns;
mod error;
pub mod import;
pub mod migrations;
mod plugin_export;
pub mod secret_roles;
pub mod secrets;
pub mod session_keys;
pub mod tags;
pub mod time;
pub mod user_keys;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use error::StoreError;

/// Number of read-only connections kept open next to the writer.
const READER_CONNECTIONS: usize = 4;

/// Prepared statements kept per connection: enough for every query the API runs repeatedly.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// How long a statement waits for a lock held by another process before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle to the store. Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: ReaderPool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database file and applies pending migrations. The parent
    /// directory must exist. Blocks, so call it before serving or from a blocking task.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut writer = Connection::open(path)?;
        configure_writer(&writer)?;
        migrations::migrate(&mut writer)?;

        let readers = (0..READER_CONNECTIONS)
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;

        let inner = Inner {
            writer: Mutex::new(writer),
            readers: ReaderPool::new(readers),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Runs `f` on a reader connection inside one read transaction, so all its queries see the
    /// same snapshot. Writes through that connection fail: it is opened read-only.
    pub async fn read<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.blocking_read(f)).await?
    }

    /// Runs `f` inside an IMMEDIATE transaction on the writer connection: commits when `f`
    /// returns `Ok`, rolls back when it returns `Err` or panics. Writes run one at a time.
    pub async fn write<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.blocking_write(f)).await?
    }

    /// [`Store::read`] on the calling thread, for work that is already on a blocking thread and
    /// would otherwise hop to another one. Never call it from an async task.
    pub fn blocking_read<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError>,
    {
        let mut conn = self.inner.readers.take();
        let tx = conn.transaction()?;
        f(&tx)
    }

    /// [`Store::write`] on the calling thread; the same rule as [`Store::blocking_read`] applies.
    pub fn blocking_write<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    {
        let mut conn = lock_ignoring_poison(&self.inner.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

        let value = f(&tx)?;

        tx.commit()?;
        Ok(value)
    }
}

/// Sets the per-connection options of the writer and switches the file to WAL mode.
fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, "SQLite did not switch the store to WAL mode");
    }

    conn.pragma_update(None, "synchronous", "NORMAL")?;
    configure_common(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;

    configure_common(&conn)?;
    Ok(conn)
}

fn configure_common(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.create_collation(collation::NATURAL, collation::natural_cmp)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);

    Ok(())
}

/// Locks a mutex even if a previous holder panicked. That is safe here: a panic inside a
/// closure drops its transaction, which rolls back and leaves the connection usable.
fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fixed set of reader connections. `take` blocks until one is free.
struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl ReaderPool {
    fn new(connections: Vec<Connection>) -> Self {
        ReaderPool {
            idle: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    fn take(&self) -> PooledReader<'_> {
        let mut idle = lock_ignoring_poison(&self.idle);

        loop {
            if let Some(conn) = idle.pop() {
                return PooledReader {
                    pool: self,
                    conn: Some(conn),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// A reader connection on loan, returned to the pool on drop.
struct PooledReader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl std::ops::Deref for PooledReader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a pooled reader holds its connection until drop")
    }
}

impl std::ops::DerefMut for PooledReader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a pooled reader holds its connection until drop")
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock_ignoring_poison(&self.pool.idle).push(conn);
            self.pool.returned.notify_one();
        }
    }
}

/// Shared helpers for the query tests: a migrated connection on a file in a temporary
/// directory, configured like the writer.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn connection() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let mut conn = Connection::open(dir.path().join("store.sqlite3")).unwrap();
        configure_writer(&conn).unwrap();
        migrations::migrate(&mut conn).unwrap();
        (dir, conn)
    }

    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let store = Store::open(&dir.path().join("store.sqlite3")).unwrap();
        (dir, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::secret_roles::{self, tests::new_role};
    use std::sync::mpsc;

    fn role_count(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT COUNT(*) FROM secret_roles", [], |row| row.get(0))?)
    }

    #[tokio::test]
    async fn write_commits_on_ok() {
        let (_dir, store) = testing::store();

        let role = store
            .write(|tx| secret_roles::insert(tx, &new_role("Login", None)))
            .await
            .unwrap();

        let read = store
            .read(move |conn| secret_roles::get(conn, role.id))
            .await;
        assert_eq!(read.unwrap(), Some(role));
    }

    #[tokio::test]
    async fn failed_write_leaves_nothing_behind() {
        let (_dir, store) = testing::store();

        let result = store
            .write(|tx| {
                secret_roles::insert(tx, &new_role("First", None))?;
                secret_roles::insert(tx, &new_role("Second", None))?;
                secret_roles::insert(tx, &new_role("First", None))
            })
            .await;

        assert!(matches!(result, Err(StoreError::Conflict(_))));
        assert_eq!(store.read(role_count).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn panicking_write_rolls_back() {
        let (_dir, store) = testing::store();

        let result: Result<(), _> = store
            .write(|tx| {
                secret_roles::insert(tx, &new_role("First", None))?;
                panic!("closure fails half-way");
            })
            .await;

        assert!(matches!(result, Err(StoreError::Join(_))));
        assert_eq!(store.read(role_count).await.unwrap(), 0);
        let after = store
            .write(|tx| secret_roles::insert(tx, &new_role("Next", None)))
            .await;
        assert!(after.is_ok());
    }

    #[tokio::test]
    async fn readers_are_read_only() {
        let (_dir, store) = testing::store();

        let result = store
            .read(|conn| {
                Ok(conn.execute(
                    "INSERT INTO secret_roles (name, slug) VALUES ('a', 'a')",
                    [],
                )?)
            })
            .await;

        assert!(matches!(result, Err(StoreError::Sqlite(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_run_while_a_write_is_open() {
        let (_dir, store) = testing::store();
        let (inserted_tx, inserted_rx) = tokio::sync::oneshot::channel();
        let (resume_tx, resume_rx) = mpsc::channel::<()>();

        let writer = store.clone();
        let write = tokio::spawn(async move {
            writer
                .write(move |tx| {
                    secret_roles::insert(tx, &new_role("Pending", None))?;
                    inserted_tx
                        .send(())
                        .expect("the test waits for this signal");
                    resume_rx.recv().expect("the test sends resume");
                    Ok(())
                })
                .await
        });
        inserted_rx.await.unwrap();

        // The write transaction is still open: every reader sees the last committed state.
        let reads: Vec<_> = (0..READER_CONNECTIONS * 2)
            .map(|_| store.read(role_count))
            .collect();
        let counts = tokio::time::timeout(
            Duration::from_secs(60),
            futures_util::future::join_all(reads),
        )
        .await
        .expect("reads must not wait for the open write");
        resume_tx.send(()).unwrap();

        for count in counts {
            assert_eq!(count.unwrap(), 0);
        }
        write.await.unwrap().unwrap();
        assert_eq!(store.read(role_count).await.unwrap(), 1);
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();

        let store = Store::open(&path).unwrap();
        runtime
            .block_on(store.write(|tx| secret_roles::insert(tx, &new_role("Kept", None))))
            .unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        let roles = runtime.block_on(store.read(secret_roles::list)).unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].name, "Kept");
    }

    #[test]
    fn open_rejects_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", migrations::latest_version() + 5)
            .unwrap();
        drop(conn);

        let error = Store::open(&path).unwrap_err();

        assert!(matches!(error, StoreError::SchemaTooNew { .. }));
        assert!(error
            .to_string()
            .contains("newer than this binary supports"));
    }
}
