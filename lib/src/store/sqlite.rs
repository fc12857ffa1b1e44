//! The embedded store: SQLite in WAL mode. One writer connection takes `BEGIN IMMEDIATE` for
//! every write transaction (a deferred read-then-write transaction fails with SQLITE_BUSY under
//! load); readers use their own connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{
    CreateUserError, EntryKind, IdempotencyClaim, IdempotencyRecord, LedgerEntry, MoneyError,
    MoneyOp, MoneyOpKind, PendingPage, ProfileChanges, Role, Rotation, Session, Settlement, Store,
    StoreResult, Transfer, TxStatus, UserRecord, Versioned,
};
use crate::auth::Throttle;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};

/// Applied in order at open; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    username      TEXT,
    username_key  TEXT UNIQUE,
    email         TEXT UNIQUE,
    phone_number  TEXT UNIQUE,
    first_name    TEXT,
    last_name     TEXT,
    address       TEXT,
    secret_kind   TEXT NOT NULL CHECK (secret_kind IN ('password', 'pin')),
    secret_hash   TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    version       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL OR phone_number IS NOT NULL)
) STRICT;

CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY NOT NULL,
    failures      INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL,
    last_lock_ms  INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    expires_at    INTEGER
) STRICT;

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    refresh_jti   TEXT NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
"#,
    r#"
CREATE TABLE entries (
    user_id         TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    remarks         TEXT NOT NULL,
    balance_before  INTEGER NOT NULL CHECK (balance_before >= 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT;

CREATE TABLE transfers (
    transfer_id  TEXT PRIMARY KEY NOT NULL,
    from_user    TEXT NOT NULL,
    to_user      TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remarks      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at   INTEGER NOT NULL,
    settled_at   INTEGER,
    sender_seq   INTEGER NOT NULL
) STRICT;
CREATE INDEX transfers_pending ON transfers (created_at) WHERE status = 'PENDING';

CREATE TABLE idempotency (
    user_id       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    entry         TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, key)
) STRICT;
"#,
    // Ledger entries outlive their account: the other party's history and the money check
    // depend on them. (SQLite can't drop a foreign key: the table is rebuilt without it.)
    r#"
CREATE TABLE entries_kept (
    user_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    remarks         TEXT NOT NULL,
    balance_before  INTEGER NOT NULL CHECK (balance_before >= 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT;
INSERT INTO entries_kept SELECT user_id, seq, kind, reference_id, amount, remarks,
    balance_before, balance_after, status, created_at FROM entries;
DROP TABLE entries;
ALTER TABLE entries_kept RENAME TO entries;
"#,
    // A transfer that could be neither credited nor refunded holds its money in suspense.
    r#"
ALTER TABLE transfers ADD COLUMN suspense INTEGER NOT NULL DEFAULT 0 CHECK (suspense IN (0, 1));
"#,
];

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Delete the files when the last handle goes (temporary databases for tests).
    remove_on_drop: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
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
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
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
        let mut writer = open_connection(path)
            .with_context(|| format!("Failed to open SQLite database {}", path.display()))?;
        migrate(&mut writer).context("Failed to migrate the SQLite database")?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                remove_on_drop,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; commits when it returns Ok.
    async fn write<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| anyhow::anyhow!("SQLite writer lock poisoned"))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("Failed to begin a write transaction")?;
            let out = f(&tx)?;
            tx.commit().context("Failed to commit")?;
            Ok(out)
        })
        .await
        .map_err(|e| anyhow::anyhow!("SQLite write task failed: {e}"))?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut r| r.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path).context("Failed to open a reader")?,
            };
            let out = f(&conn);
            if let Ok(mut readers) = inner.readers.lock() {
                if readers.len() < 8 {
                    readers.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|e| anyhow::anyhow!("SQLite read task failed: {e}"))?
    }
}

const USER_COLUMNS: &str =
    "user_id, username, email, phone_number, first_name, last_name, address, \
     secret_kind, secret_hash, role, balance, version, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what}").into(),
        )
    };
    let id: String = row.get(0)?;
    let kind: String = row.get(7)?;
    let role: String = row.get(9)?;
    Ok(UserRecord {
        user_id: UserId::parse(&id).map_err(|_| bad(0, "user_id"))?,
        username: row.get(1)?,
        email: row.get(2)?,
        phone_number: row.get(3)?,
        first_name: row.get(4)?,
        last_name: row.get(5)?,
        address: row.get(6)?,
        secret_kind: SecretKind::parse(&kind).ok_or_else(|| bad(7, "secret_kind"))?,
        secret_hash: row.get(8)?,
        role: Role::parse(&role).ok_or_else(|| bad(9, "role"))?,
        balance: row.get(10)?,
        version: row.get::<_, i64>(11)? as u64,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}

fn identifier_column(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Username => "username_key",
        IdentifierKind::Email => "email",
        IdentifierKind::Phone => "phone_number",
    }
}

fn find_by_identifier(
    conn: &Connection,
    id: &LoginIdentifier,
) -> rusqlite::Result<Option<UserRecord>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {} = ?1",
        identifier_column(id.kind)
    );
    conn.query_row(&sql, [&id.key], user_from_row).optional()
}

const ENTRY_COLUMNS: &str =
    "user_id, seq, kind, reference_id, amount, remarks, balance_before, balance_after, status, created_at";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let bad = |i: usize| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            "bad enum value".into(),
        )
    };
    let kind: String = row.get(2)?;
    let status: String = row.get(8)?;
    Ok(LedgerEntry {
        user_id: row.get(0)?,
        seq: row.get::<_, i64>(1)? as u64,
        kind: EntryKind::parse(&kind).ok_or_else(|| bad(2))?,
        reference_id: row.get(3)?,
        amount: row.get(4)?,
        remarks: row.get(5)?,
        balance_before: row.get(6)?,
        balance_after: row.get(7)?,
        status: TxStatus::parse(&status).ok_or_else(|| bad(8))?,
        created_at: row.get(9)?,
    })
}

fn insert_entry(tx: &Connection, e: &LedgerEntry) -> rusqlite::Result<()> {
    tx.execute(
        &format!("INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            e.user_id,
            e.seq as i64,
            e.kind.as_str(),
            e.reference_id,
            e.amount,
            e.remarks,
            e.balance_before,
            e.balance_after,
            e.status.as_str(),
            e.created_at
        ],
    )?;
    Ok(())
}

/// Balance and version of an account, if it exists.
fn account(tx: &Connection, user: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    tx.query_row(
        "SELECT balance, version FROM users WHERE user_id = ?1",
        [user],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Moves the entry's account to its `balance_after` and version `seq`, and records the entry.
fn post_entry(tx: &Connection, entry: &LedgerEntry) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE users SET balance = ?2, version = ?3, updated_at = ?4 WHERE user_id = ?1",
        params![
            entry.user_id,
            entry.balance_after,
            entry.seq as i64,
            entry.created_at
        ],
    )?;
    insert_entry(tx, entry)
}

fn read_idempotency(
    c: &Connection,
    user: &str,
    scope: &str,
    key: &str,
    now: Millis,
) -> anyhow::Result<Option<IdempotencyRecord>> {
    let row: Option<(String, String)> = c
        .query_row(
            "SELECT request_hash, entry FROM idempotency \
             WHERE user_id = ?1 AND scope = ?2 AND key = ?3 AND expires_at > ?4",
            params![user, scope, key, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(request_hash, entry)| {
        Ok(IdempotencyRecord {
            request_hash,
            entry: serde_json::from_str(&entry).context("stored idempotent entry is not valid")?,
        })
    })
    .transpose()
}

const TRANSFER_COLUMNS: &str =
    "transfer_id, from_user, to_user, amount, remarks, status, created_at, settled_at, suspense";

fn transfer_from_row(row: &Row<'_>) -> rusqlite::Result<Transfer> {
    let status: String = row.get(5)?;
    Ok(Transfer {
        transfer_id: row.get(0)?,
        from_user: row.get(1)?,
        to_user: row.get(2)?,
        amount: row.get(3)?,
        remarks: row.get(4)?,
        status: TxStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                "bad status".into(),
            )
        })?,
        created_at: row.get(6)?,
        settled_at: row.get(7)?,
        suspense: row.get(8)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError> {
        let u = user.clone();
        self.write(move |tx| {
            for id in u.identifiers() {
                if find_by_identifier(tx, &id)
                    .context("Failed to check an identifier")?
                    .is_some()
                {
                    return Err(CreateUserError::Taken(id.kind));
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS}, username_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    u.user_id.to_string(),
                    u.username,
                    u.email,
                    u.phone_number,
                    u.first_name,
                    u.last_name,
                    u.address,
                    u.secret_kind.as_str(),
                    u.secret_hash,
                    u.role.as_str(),
                    u.balance,
                    u.version as i64,
                    u.created_at,
                    u.updated_at,
                    u.username.as_deref().map(str::to_lowercase),
                ],
            )
            .context("Failed to insert a user")?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1"),
                [id.to_string()],
                user_from_row,
            )
            .optional()
            .context("Failed to read a user")
        })
        .await
    }

    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>> {
        let id = identifier.clone();
        self.read(move |c| find_by_identifier(c, &id).context("Failed to look up a user"))
            .await
    }

    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>> {
        let key = key.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT failures, locked_until, last_lock_ms, version FROM login_throttle \
                 WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![key, now],
                |r| {
                    Ok(Versioned {
                        value: Throttle {
                            failures: r.get(0)?,
                            locked_until: r.get(1)?,
                            last_lock_ms: r.get(2)?,
                        },
                        version: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .context("Failed to read login throttle")
        })
        .await
    }

    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let (key, s) = (key.to_string(), *state);
        self.write(move |tx| {
            let current: Option<(i64, Option<i64>)> = tx
                .query_row(
                    "SELECT version, expires_at FROM login_throttle WHERE key = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let live = current.filter(|(_, exp)| exp.is_none_or(|e| e > now));
            let next = match (live, expected) {
                (None, None) => 1,
                (Some((v, _)), Some(e)) if v as u64 == e => v + 1,
                _ => return Ok(false),
            };
            tx.execute(
                "INSERT INTO login_throttle (key, failures, locked_until, last_lock_ms, version, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET \
                 failures = excluded.failures, locked_until = excluded.locked_until, \
                 last_lock_ms = excluded.last_lock_ms, version = excluded.version, \
                 expires_at = excluded.expires_at",
                params![key, s.failures, s.locked_until, s.last_lock_ms, next, expires_at],
            )?;
            // Forget unknown-identifier records nobody has tried for a long time.
            tx.execute(
                "DELETE FROM login_throttle WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                [now],
            )?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
    }

    async fn release_throttle(&self, key: &str, reserved: u64, now: Millis) -> StoreResult<bool> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM login_throttle WHERE key = ?1 AND (version = ?2 OR locked_until <= ?3)",
                params![key, reserved as i64, now],
            )
            .context("Failed to reset login throttle")?;
            let locked_by_another: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM login_throttle WHERE key = ?1)",
                    [&key],
                    |r| r.get(0),
                )
                .context("Failed to read login throttle")?;
            Ok::<_, anyhow::Error>(!locked_by_another)
        })
        .await
    }

    async fn create_session(&self, s: &Session, now_secs: i64) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO sessions (session_id, user_id, refresh_jti, revoked, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.session_id,
                    s.user_id.to_string(),
                    s.refresh_jti,
                    s.revoked,
                    s.expires_at
                ],
            )
            .context("Failed to create a session")?;
            // Forget families that have expired (they are inactive already).
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now_secs])?;
            Ok::<_, anyhow::Error>(())
        })
        .await
    }

    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let sid = session_id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT 1 FROM sessions WHERE session_id = ?1 AND user_id = ?2 \
                 AND revoked = 0 AND expires_at > ?3",
                params![sid, user.to_string(), now_secs],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .context("Failed to read a session")
        })
        .await
    }

    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        new_jti: &str,
        new_expires_at: i64,
        now_secs: i64,
    ) -> StoreResult<Rotation> {
        let (sid, presented, new) = (
            session_id.to_string(),
            presented_jti.to_string(),
            new_jti.to_string(),
        );
        self.write(move |tx| {
            let row: Option<(String, bool, i64)> = tx
                .query_row(
                    "SELECT refresh_jti, revoked, expires_at FROM sessions \
                     WHERE session_id = ?1 AND user_id = ?2",
                    params![sid, user.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((current, revoked, expires_at)) = row else {
                return Ok(Rotation::Inactive);
            };
            if revoked || expires_at <= now_secs {
                return Ok(Rotation::Inactive);
            }
            if current != presented {
                tx.execute(
                    "UPDATE sessions SET revoked = 1 WHERE session_id = ?1",
                    [&sid],
                )?;
                return Ok(Rotation::Reused);
            }
            tx.execute(
                "UPDATE sessions SET refresh_jti = ?2, expires_at = ?3 WHERE session_id = ?1",
                params![sid, new, new_expires_at],
            )?;
            Ok::<_, anyhow::Error>(Rotation::Rotated)
        })
        .await
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let sid = session_id.to_string();
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE sessions SET revoked = 1 WHERE session_id = ?1 AND user_id = ?2 \
                 AND revoked = 0 AND expires_at > ?3",
                params![sid, user.to_string(), now_secs],
            )?;
            Ok::<_, anyhow::Error>(n == 1)
        })
        .await
    }

    async fn apply(
        &self,
        op: &MoneyOp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<LedgerEntry, MoneyError> {
        let (op, claim) = (op.clone(), claim.cloned());
        self.write(move |tx| {
            let user = op.user.to_string();
            if let Some(c) = &claim {
                if let Some(record) = read_idempotency(tx, &user, c.scope, &c.key, op.now)? {
                    return Err(MoneyError::KeyUsed(Box::new(record)));
                }
            }
            let (balance, version) = account(tx, &user)
                .context("Failed to read the balance")?
                .ok_or(MoneyError::UserNotFound)?;
            let entry = op.entry(balance, version as u64)?;
            post_entry(tx, &entry).context("Failed to post the entry")?;
            if let MoneyOpKind::Transfer { to } = op.kind {
                tx.execute(
                    "INSERT INTO transfers (transfer_id, from_user, to_user, amount, remarks, status, created_at, sender_seq) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'PENDING', ?6, ?7)",
                    params![op.reference_id, user, to.to_string(), op.amount, op.remarks, op.now, entry.seq as i64],
                )
                .context("Failed to record the transfer")?;
            }
            if let Some(c) = &claim {
                tx.execute(
                    "INSERT OR REPLACE INTO idempotency (user_id, scope, key, request_hash, entry, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![user, c.scope, c.key, c.request_hash, serde_json::to_string(&entry).context("encode entry")?, c.expires_at],
                )
                .context("Failed to record the idempotency key")?;
            }
            Ok(entry)
        })
        .await
    }

    async fn idempotency_record(
        &self,
        user: UserId,
        scope: &str,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.read(move |c| read_idempotency(c, &user.to_string(), &scope, &key, now))
            .await
    }

    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        let id = transfer_id.to_string();
        self.write(move |tx| {
            let row: Option<(Transfer, i64)> = tx
                .query_row(
                    &format!("SELECT {TRANSFER_COLUMNS}, sender_seq FROM transfers WHERE transfer_id = ?1"),
                    [&id],
                    |r| Ok((transfer_from_row(r)?, r.get(9)?)),
                )
                .optional()?;
            let Some((transfer, sender_seq)) = row else {
                return Ok(Settlement::Unknown);
            };
            if transfer.status != TxStatus::Pending {
                return Ok(Settlement::AlreadySettled);
            }
            let credit = account(tx, &transfer.to_user)?
                .and_then(|(balance, version)| transfer.settlement_entry(false, balance, version as u64, now));
            let refund = || {
                Ok::<_, rusqlite::Error>(account(tx, &transfer.from_user)?.and_then(|(balance, version)| {
                    transfer.settlement_entry(true, balance, version as u64, now)
                }))
            };
            let (entry, outcome) = match credit {
                Some(entry) => (Some(entry), Settlement::Credited),
                None => match refund()? {
                    Some(entry) => (Some(entry), Settlement::Refunded),
                    None => (None, Settlement::Suspended),
                },
            };
            if let Some(entry) = &entry {
                post_entry(tx, entry)?;
            }
            let final_status = outcome.final_status();
            let from = &transfer.from_user;
            tx.execute(
                "UPDATE transfers SET status = ?2, settled_at = ?3, suspense = ?4 WHERE transfer_id = ?1",
                params![id, final_status.as_str(), now, outcome == Settlement::Suspended],
            )?;
            tx.execute(
                "UPDATE entries SET status = ?3 WHERE user_id = ?1 AND seq = ?2",
                params![from, sender_seq, final_status.as_str()],
            )?;
            Ok::<_, anyhow::Error>(outcome)
        })
        .await
    }

    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>> {
        let id = transfer_id.to_string();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE transfer_id = ?1"),
                [id],
                transfer_from_row,
            )
            .optional()
            .context("Failed to read a transfer")
        })
        .await
    }

    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage> {
        // Keyset pagination on (created_at, transfer_id): the cursor is the last row seen.
        let after: (i64, String) = match cursor {
            None => (i64::MIN, String::new()),
            Some(c) => {
                let (at, id) = c.split_once('/').context("bad pending cursor")?;
                (at.parse().context("bad pending cursor")?, id.to_string())
            }
        };
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT created_at, transfer_id FROM transfers \
                 WHERE status = 'PENDING' AND created_at < ?1 \
                 AND (created_at > ?2 OR (created_at = ?2 AND transfer_id > ?3)) \
                 ORDER BY created_at, transfer_id LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(
                    params![created_before, after.0, after.1, limit as i64],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next = (rows.len() == limit)
                .then(|| rows.last().map(|(at, id)| format!("{at}/{id}")))
                .flatten();
            Ok(PendingPage {
                ids: rows.into_iter().map(|(_, id)| id).collect(),
                next,
            })
        })
        .await
    }

    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE user_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
            ))?;
            let before = before_seq.map_or(i64::MAX, |s| s as i64);
            let entries = stmt
                .query_map(params![user.to_string(), before, limit as i64], entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(entries)
        })
        .await
    }

    async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let changes = changes.clone();
        self.write(move |tx| {
            let id = user.to_string();
            for (column, value) in [
                ("first_name", &changes.first_name),
                ("last_name", &changes.last_name),
                ("address", &changes.address),
            ] {
                if let Some(v) = value {
                    tx.execute(
                        &format!("UPDATE users SET {column} = ?2 WHERE user_id = ?1"),
                        params![id, v],
                    )?;
                }
            }
            let n = tx.execute(
                "UPDATE users SET updated_at = ?2 WHERE user_id = ?1",
                params![id, now],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let user = tx.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1"),
                [&id],
                user_from_row,
            )?;
            Ok::<_, anyhow::Error>(Some(user))
        })
        .await
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM users WHERE user_id = ?1", [user.to_string()])?;
            Ok::<_, anyhow::Error>(n == 1)
        })
        .await
    }
}
