//! The embedded store: SQLite in WAL mode. One writer thread owns the write connection and takes
//! `BEGIN IMMEDIATE` for every write transaction (a deferred read-then-write transaction fails
//! with SQLITE_BUSY under load), committing the writes queued meanwhile together (`writer`);
//! readers use their own connections, on the calling thread (a request's reads are short).
//!
//! One file per part of the port: `identity`, `throttle`, `sessions`, `wallet`, `transfers`,
//! `entities`.

mod entities;
mod factors;
mod identity;
mod operators;
mod reads;
mod resets;
mod sessions;
mod throttle;
mod transfers;
mod wallet;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::{Connection, TransactionBehavior};

use writer::Writer;

use crate::example_data::Dataset;

/// Ids are kept as their text; one that does not parse is a conversion failure, as for any
/// column of the wrong type.
macro_rules! id_column {
    ($id:ty) => {
        impl rusqlite::types::ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.to_string().into())
            }
        }

        impl rusqlite::types::FromSql for $id {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                <$id>::parse(value.as_str()?)
                    .map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

id_column!(crate::domain::UserId);
id_column!(crate::domain::EntityId);

/// Applied in order at open; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_users_logins_and_sessions.sql"),
    include_str!("migrations/0002_ledger_transfers_and_idempotency.sql"),
    include_str!("migrations/0003_entries_outlive_their_account.sql"),
    include_str!("migrations/0004_transfer_suspense.sql"),
    include_str!("migrations/0005_entities.sql"),
    include_str!("migrations/0006_transfers_by_status.sql"),
    include_str!("migrations/0007_session_details.sql"),
    include_str!("migrations/0008_reset_codes.sql"),
    include_str!("migrations/0009_auth_epochs.sql"),
    include_str!("migrations/0010_throttle_per_address.sql"),
    include_str!("migrations/0011_second_factor.sql"),
];

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// Delete the files when the last handle goes (temporary databases for tests).
    remove_on_drop: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stop the writer (it answers what is queued) before the files go.
        self.writer.stop();
        if self.remove_on_drop {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Statements are prepared once per connection (`prepare_cached`); this holds all of them.
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// The write connection: every commit is fsynced before the writer answers (an acknowledged
/// write survives power loss, not only a crash of the process).
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!(
            "the database was written by a newer dompet (schema {applied}, this build knows {})",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)
            .with_context(|| format!("Failed to apply migration {}", i + 1))?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::open_with(path.as_ref(), false)
    }

    /// A fresh database in a temporary file, removed when the store is dropped.
    pub fn temporary() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("dompet-{}.db", uuid::Uuid::new_v4()));
        Self::open_with(&path, true)
    }

    fn open_with(path: &Path, remove_on_drop: bool) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create directory {}", dir.display()))?;
        }
        let mut writer = open_writer(path)
            .with_context(|| format!("Failed to open SQLite database {}", path.display()))?;
        migrate(&mut writer).context("Failed to migrate the SQLite database")?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Writer::start(writer)?,
                readers: Mutex::new(Vec::new()),
                remove_on_drop,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Loads a dataset (the example data) in one transaction, records as they are. Refuses a
    /// database that already has an account: example accounts, an operator among them, have
    /// published secrets.
    pub async fn load_dataset(&self, dataset: Dataset) -> anyhow::Result<()> {
        self.write(move |tx| {
            let has_accounts: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?;
            anyhow::ensure!(
                !has_accounts,
                "the database already has accounts; example data loads only into an empty one"
            );
            for u in &dataset.users {
                identity::insert_user(tx, u).context("Failed to insert an account")?;
            }
            for e in &dataset.entries {
                wallet::insert_entry(tx, e).context("Failed to insert a ledger entry")?;
            }
            for (t, sender_seq) in &dataset.transfers {
                transfers::insert_transfer(tx, t, *sender_seq)
                    .context("Failed to insert a transfer")?;
            }
            for e in &dataset.entities {
                entities::insert_entity(tx, e).context("Failed to insert an entity")?;
            }
            Ok(())
        })
        .await
    }

    /// Runs `f` as one write: in its own savepoint of the writer's next transaction, answered
    /// once that transaction is committed. An error from `f` rolls back only what `f` wrote.
    async fn write<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// Runs `f` on a pooled reader connection, on the calling thread. Every read a request
    /// makes is a few indexed lookups (or one bounded page) in the page cache, shorter than
    /// handing it to another thread: measured on `GET /account` (BENCHMARKS.md), a hand-off per
    /// read — to the blocking pool, or `block_in_place` — cost more than the read itself.
    /// Unbounded reads use `scan`.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.inner.with_reader(f)
    }

    /// Runs a read whose length grows with the data (the money check reads every account and
    /// entry) on the blocking pool, so the runtime's workers keep serving requests meanwhile.
    async fn scan<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.with_reader(f))
            .await
            .map_err(|e| anyhow::anyhow!("SQLite read task failed: {e}"))?
    }
}

impl Inner {
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let pooled = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path).context("Failed to open a reader")?,
        };
        let out = f(&conn);
        if let Ok(mut readers) = self.readers.lock() {
            if readers.len() < 8 {
                readers.push(conn);
            }
        }
        out
    }
}
