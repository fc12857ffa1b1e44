//! Accounts and identifier uniqueness (the `users` table's unique keys).

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};
use crate::store::{
    ChangeIdentifierError, ChangeSecretError, CloseAccountError, CodeUse, CreateUserError,
    IdentityStore, ProfileChanges, Role, SecretChange, StoreResult, ThrottleRelease, UserRecord,
};

pub(super) const USER_COLUMNS: &str =
    "user_id, username, email, phone_number, first_name, last_name, address, \
     secret_kind, secret_hash, role, balance, version, created_at, updated_at, auth_epoch";

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
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
        auth_epoch: row.get::<_, i64>(14)? as u64,
    })
}

pub(super) fn identifier_column(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Username => "username_key",
        IdentifierKind::Email => "email",
        IdentifierKind::Phone => "phone_number",
    }
}

pub(super) fn find_by_identifier(
    conn: &Connection,
    id: &LoginIdentifier,
) -> rusqlite::Result<Option<UserRecord>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {} = ?1",
        identifier_column(id.kind)
    );
    conn.prepare_cached(&sql)?
        .query_row([&id.key], user_from_row)
        .optional()
}

pub(super) fn select_user(c: &Connection, id: UserId) -> rusqlite::Result<Option<UserRecord>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1"
    ))?
    .query_row([id.to_string()], user_from_row)
    .optional()
}

/// The account and whether its refresh family `session_id` is live, in one statement (what
/// [`super::sessions::session_is_active`] checks); `None` when there is no such account.
pub(super) fn select_user_with_session(
    c: &Connection,
    id: UserId,
    session_id: &str,
    now_secs: i64,
) -> rusqlite::Result<Option<(UserRecord, bool)>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, EXISTS (SELECT 1 FROM sessions WHERE session_id = ?2 \
         AND user_id = ?1 AND revoked = 0 AND expires_at > ?3 \
         AND sessions.auth_epoch = users.auth_epoch) FROM users WHERE user_id = ?1"
    ))?
    .query_row(params![id.to_string(), session_id, now_secs], |row| {
        Ok((user_from_row(row)?, row.get::<_, bool>(15)?))
    })
    .optional()
}

/// Inserts an account as it is (identifiers are unique by the table's constraints).
pub(super) fn insert_user(tx: &Connection, u: &UserRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO users ({USER_COLUMNS}, username_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?
    .execute(params![
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
        u.auth_epoch as i64,
        u.username.as_deref().map(str::to_lowercase),
    ])?;
    Ok(())
}

#[async_trait]
impl IdentityStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
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
            insert_user(tx, &u).context("Failed to insert a user")?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.read(move |c| select_user(c, id).context("Failed to read a user"))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>> {
        let id = identifier.clone();
        self.read(move |c| find_by_identifier(c, &id).context("Failed to look up a user"))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
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
                    tx.prepare_cached(&format!(
                        "UPDATE users SET {column} = ?2 WHERE user_id = ?1"
                    ))?
                    .execute(params![id, v])?;
                }
            }
            let n = tx
                .prepare_cached("UPDATE users SET updated_at = ?2 WHERE user_id = ?1")?
                .execute(params![id, now])?;
            if n == 0 {
                return Ok(None);
            }
            let user = tx
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1"
                ))?
                .query_row([&id], user_from_row)?;
            Ok::<_, anyhow::Error>(Some(user))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_identifier(
        &self,
        seen: &UserRecord,
        kind: IdentifierKind,
        value: Option<&str>,
        release: Option<&ThrottleRelease>,
        code: Option<&CodeUse>,
        now: Millis,
    ) -> Result<UserRecord, ChangeIdentifierError> {
        let (seen, value) = (seen.clone(), value.map(str::to_string));
        let (release, code) = (release.cloned(), code.cloned());
        self.write(move |tx| {
            let id = seen.user_id.to_string();
            let current: Option<(Option<String>, Option<String>, Option<String>)> = tx
                .prepare_cached(
                    "SELECT username, email, phone_number FROM users WHERE user_id = ?1",
                )?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let as_seen = (
                seen.username.clone(),
                seen.email.clone(),
                seen.phone_number.clone(),
            );
            if current != Some(as_seen) {
                return Ok(Err(ChangeIdentifierError::Changed));
            }
            // The column each identifier is unique on.
            let key_column = match kind {
                IdentifierKind::Username => "username_key",
                IdentifierKind::Email => "email",
                IdentifierKind::Phone => "phone_number",
            };
            let key = value.as_deref().map(|v| LoginIdentifier::new(kind, v).key);
            if let Some(key) = &key {
                let taken = tx
                    .prepare_cached(&format!(
                        "SELECT 1 FROM users WHERE {key_column} = ?1 AND user_id <> ?2"
                    ))?
                    .query_row(params![key, id], |_| Ok(()))
                    .optional()?
                    .is_some();
                if taken {
                    return Ok(Err(ChangeIdentifierError::Taken(kind)));
                }
            }
            if let Some(r) = &release {
                if !super::throttle::release(tx, r, now)? {
                    return Ok(Err(ChangeIdentifierError::Locked));
                }
            }
            match kind {
                IdentifierKind::Username => tx
                    .prepare_cached(
                        "UPDATE users SET username = ?2, username_key = ?3, updated_at = ?4 \
                         WHERE user_id = ?1",
                    )?
                    .execute(params![id, value, key, now])?,
                _ => tx
                    .prepare_cached(&format!(
                        "UPDATE users SET {key_column} = ?2, updated_at = ?3 WHERE user_id = ?1"
                    ))?
                    .execute(params![id, value, now])?,
            };
            if let Some(code) = &code {
                if !super::factors::use_code(tx, seen.user_id, code)? {
                    // An error rolls the change and the throttle's reset back.
                    anyhow::bail!(ChangeIdentifierError::CodeUsed);
                }
            }
            Ok::<_, anyhow::Error>(Ok(seen.with_identifier(kind, value.as_deref(), now)))
        })
        .await
        .or_else(|e| match e.downcast::<ChangeIdentifierError>() {
            Ok(e) => Ok(Err(e)),
            Err(e) => Err(ChangeIdentifierError::Unexpected(e)),
        })?
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_secret(
        &self,
        seen: &UserRecord,
        change: &SecretChange<'_>,
        now: Millis,
    ) -> Result<UserRecord, ChangeSecretError> {
        let seen = seen.clone();
        let (kind, hash) = (change.kind, change.hash.to_string());
        let keep = change.keep_session.map(str::to_string);
        let release = change.release.cloned();
        let factor = change.factor.cloned();
        self.write(move |tx| {
            if let Some(r) = &release {
                if !super::throttle::release(tx, r, now)? {
                    return Ok(Err(ChangeSecretError::Locked));
                }
            }
            let id = seen.user_id.to_string();
            let next_epoch = seen.auth_epoch + 1;
            let changed = tx
                .prepare_cached(
                    "UPDATE users SET secret_kind = ?2, secret_hash = ?3, updated_at = ?4, \
                     auth_epoch = ?6 WHERE user_id = ?1 AND secret_hash = ?5 AND auth_epoch = ?7",
                )?
                .execute(params![
                    id,
                    kind.as_str(),
                    hash,
                    now,
                    seen.secret_hash,
                    next_epoch as i64,
                    seen.auth_epoch as i64
                ])?;
            if changed == 0 {
                // An error rolls the throttle's reset back with it.
                anyhow::bail!(ChangeSecretError::Changed);
            }
            // The login that asked stays: it moves to the new epoch with the account.
            if let Some(sid) = &keep {
                let moved = tx
                    .prepare_cached(
                        "UPDATE sessions SET auth_epoch = ?3 WHERE session_id = ?1 \
                         AND user_id = ?2 AND revoked = 0 AND expires_at > ?4",
                    )?
                    .execute(params![sid, id, next_epoch as i64, now.div_euclid(1000)])?;
                if moved == 0 {
                    anyhow::bail!(ChangeSecretError::Changed);
                }
            }
            tx.prepare_cached(
                "UPDATE sessions SET revoked = 1 WHERE user_id = ?1 AND revoked = 0 \
                 AND session_id IS NOT ?2",
            )?
            .execute(params![id, keep])?;
            if let Some(factor) = &factor {
                if !super::factors::apply(tx, seen.user_id, factor, now)? {
                    anyhow::bail!(ChangeSecretError::CodeUsed);
                }
            }
            let mut user = seen.clone();
            (user.secret_kind, user.secret_hash, user.updated_at) = (kind, hash, now);
            user.auth_epoch = next_epoch;
            Ok::<_, anyhow::Error>(Ok(user))
        })
        .await
        .or_else(|e| match e.downcast::<ChangeSecretError>() {
            Ok(e) => Ok(Err(e)),
            Err(e) => Err(ChangeSecretError::Unexpected(e)),
        })?
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn close_account(
        &self,
        seen: &UserRecord,
        throttle_keys: &[String],
        code: Option<&CodeUse>,
    ) -> Result<(), CloseAccountError> {
        let (seen, keys, code) = (seen.clone(), throttle_keys.to_vec(), code.cloned());
        self.write(move |tx| {
            let id = seen.user_id.to_string();
            let now: Option<(i64, i64)> = tx
                .prepare_cached("SELECT balance, version FROM users WHERE user_id = ?1")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match now {
                None => return Ok(Err(CloseAccountError::Changed)),
                Some((balance, _)) if balance != 0 => {
                    return Ok(Err(CloseAccountError::BalanceNotZero))
                }
                Some((_, version)) if version as u64 != seen.version => {
                    return Ok(Err(CloseAccountError::Changed))
                }
                Some(_) => {}
            }
            let pending: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM transfers WHERE status = 'PENDING' \
                     AND (from_user = ?1 OR to_user = ?1))",
                )?
                .query_row([&id], |r| r.get(0))?;
            if pending {
                return Ok(Err(CloseAccountError::TransferPending));
            }
            if let Some(code) = &code {
                // Nothing is written before this.
                if !super::factors::use_code(tx, seen.user_id, code)? {
                    return Ok(Err(CloseAccountError::CodeUsed));
                }
            }
            super::factors::remove(tx, seen.user_id)?;
            for statement in [
                "UPDATE entries SET remarks = '' WHERE user_id = ?1",
                "UPDATE transfers SET remarks = '' WHERE from_user = ?1",
                "DELETE FROM sessions WHERE user_id = ?1",
                "DELETE FROM entities WHERE user_id = ?1",
                "DELETE FROM idempotency WHERE user_id = ?1",
                "DELETE FROM reset_codes WHERE user_id = ?1",
                "DELETE FROM users WHERE user_id = ?1",
            ] {
                tx.prepare_cached(statement)?.execute([&id])?;
            }
            for key in &keys {
                tx.prepare_cached("DELETE FROM login_throttle WHERE key = ?1")?
                    .execute([key])?;
            }
            Ok::<_, anyhow::Error>(Ok(()))
        })
        .await?
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_user(&self, user: UserId) -> StoreResult<bool> {
        self.write(move |tx| {
            super::factors::remove(tx, user)?;
            let n = tx
                .prepare_cached("DELETE FROM users WHERE user_id = ?1")?
                .execute([user.to_string()])?;
            Ok::<_, anyhow::Error>(n == 1)
        })
        .await
    }
}
