//! Accounts and their identifier guards.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::items::{
    code_use, condition_failed, delete, delete_if, entry_sk, epoch_condition, factor_change,
    factor_removal, guard_item, guard_pk, inbox_item, inbox_pk, item, n, parse_entry, parse_guard,
    parse_user, pending_transfers, put_new, s, session_revocation, session_sk, settled_in,
    throttle_pk, throttle_release, transfer_pk, user_item, user_pk, Action, Attrs, Item,
    Transaction, FACTOR, GUARD, INBOX, INBOX_SHARDS, MADE, PROFILE, RECOVERY, THROTTLE, TRANSFER,
};
use super::sessions::TRANSACTION_MAX;
use super::{backoff, DynamoStore, SortKeys, CONFLICT_RETRIES};
use crate::domain::{now_millis, IdentifierKind, LoginIdentifier, Millis, UserId};
use crate::store::{
    ChangeIdentifierError, ChangeSecretError, CloseAccountError, CodeUse, CreateUserError,
    EntryKind, FactorChange, IdentityStore, ProfileChanges, SecretChange, SessionStore,
    StoreResult, ThrottleRelease, TxStatus, UserRecord,
};

/// At most this many items per `BatchWriteItem`, and writes in flight at once.
const BATCH_MAX: usize = 25;

impl DynamoStore {
    /// Deletes the items `sks` of partition `pk`, 25 to a `BatchWriteItem`, until none is left
    /// unprocessed.
    async fn batch_delete(&self, pk: String, sks: &[String]) -> StoreResult<()> {
        for chunk in sks.chunks(BATCH_MAX) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|sk| {
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .key("pk", s(pk.clone()))
                                .key("sk", s(sk))
                                .build()?,
                        )
                        .build())
                })
                .collect::<anyhow::Result<_>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .context("DynamoDB BatchWriteItem (delete) failed")?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
                if !requests.is_empty() {
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    /// Removes the `remarks` of each item `(pk, sk)` that still exists, a few at a time.
    async fn remove_remarks(&self, keys: Vec<(String, String)>) -> StoreResult<()> {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(keys)
            .map(|(pk, sk)| async move {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .update_expression("REMOVE remarks")
                    .condition_expression("attribute_exists(pk)")
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if condition_failed(&e) => Ok(()),
                    Err(e) => {
                        Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (remarks) failed"))
                    }
                }
            })
            .buffer_unordered(BATCH_MAX)
            .try_collect::<()>()
            .await
    }
}

#[async_trait]
impl IdentityStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError> {
        let mut tx = Transaction::default();
        tx.push(Action::User, put_new(&self.table, user_item(user))?);
        for id in user.identifiers() {
            tx.push(
                Action::Guard(id.kind),
                put_new(&self.table, guard_item(&id, user.user_id))?,
            );
        }
        // Its inbox, open: a transfer to it is then one write.
        for shard in 0..INBOX_SHARDS {
            tx.push(
                Action::Inbox,
                put_new(&self.table, inbox_item(user.user_id, shard))?,
            );
        }
        let mut attempt = 0;
        loop {
            let Err(cancelled) = self.transact(&tx, "register").await? else {
                return Ok(());
            };
            // Guards are written in identifier order: the first that failed is reported.
            if let Some(Action::Guard(kind)) = cancelled.first_failed() {
                return Err(CreateUserError::Taken(kind));
            }
            attempt += 1;
            if cancelled.conflicted() && attempt <= CONFLICT_RETRIES {
                backoff(attempt).await;
                continue;
            }
            return Err(anyhow::anyhow!("user creation cancelled: {cancelled}").into());
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.get(user_pk(id), PROFILE)
            .await?
            .as_ref()
            .map(parse_user)
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>> {
        let Some(guard) = self.get(guard_pk(identifier), GUARD).await? else {
            return Ok(None);
        };
        self.get_user(parse_guard(&guard)?).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let mut sets = vec!["updated_at = :now".to_string()];
        let mut removes = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(PROFILE))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        for (name, value) in [
            ("first_name", &changes.first_name),
            ("last_name", &changes.last_name),
            ("address", &changes.address),
        ] {
            match value {
                Some(Some(v)) => {
                    sets.push(format!("{name} = :{name}"));
                    req = req.expression_attribute_values(format!(":{name}"), s(v));
                }
                Some(None) => removes.push(name),
                None => {}
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        match req.update_expression(expression).send().await {
            Ok(out) => out.attributes.as_ref().map(parse_user).transpose(),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (profile) failed")),
        }
    }

    /// One `TransactWriteItems`: the profile (conditional on every identifier as `seen`), the
    /// new identifier's guard (which must not exist), the old one's (which must be this
    /// account's) and the login throttle's reset together.
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
        let field = kind.field();
        let mut conditions = vec!["attribute_exists(pk)".to_string()];
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(seen.user_id)))
            .key("sk", s(PROFILE))
            .expression_attribute_values(":now", n(now));
        for (name, current) in [
            ("username", &seen.username),
            ("email", &seen.email),
            ("phone_number", &seen.phone_number),
        ] {
            match current {
                Some(v) => {
                    conditions.push(format!("{name} = :seen_{name}"));
                    update = update.expression_attribute_values(format!(":seen_{name}"), s(v));
                }
                None => conditions.push(format!("attribute_not_exists({name})")),
            }
        }
        let expression = match value {
            Some(v) => {
                update = update.expression_attribute_values(":value", s(v));
                format!("SET {field} = :value, updated_at = :now")
            }
            None => format!("SET updated_at = :now REMOVE {field}"),
        };
        let update = update
            .update_expression(expression)
            .condition_expression(conditions.join(" AND "))
            .build()
            .context("Failed to build the identifier update")?;
        let mut tx = Transaction::default();
        tx.push(
            Action::User,
            TransactWriteItem::builder().update(update).build(),
        );
        let old = seen.identifiers().into_iter().find(|i| i.kind == kind);
        let new = value.map(|v| LoginIdentifier::new(kind, v));
        // A change of case keeps the guard (its key is case-insensitive).
        if old.as_ref().map(|i| &i.key) != new.as_ref().map(|i| &i.key) {
            if let Some(new) = &new {
                tx.push(
                    Action::Guard(kind),
                    put_new(&self.table, guard_item(new, seen.user_id))?,
                );
            }
            if let Some(old) = &old {
                let mine = item([(":me", s(seen.user_id.to_string()))]);
                tx.push(
                    Action::Delete,
                    delete_if(
                        &self.table,
                        guard_pk(old),
                        GUARD,
                        Some(("user_id = :me", mine)),
                    )?,
                );
            }
        }
        if let Some(release) = release {
            tx.push(
                Action::Throttle,
                throttle_release(&self.table, release, now)?,
            );
        }
        if let Some(code) = code {
            let (action, write) = code_use(&self.table, seen.user_id, code)?;
            tx.push(action, write);
        }
        match self.transact(&tx, "change identifier").await? {
            Ok(()) => Ok(seen.with_identifier(kind, value, now)),
            Err(cancelled) if cancelled.failed(Action::Guard(kind)) => {
                Err(ChangeIdentifierError::Taken(kind))
            }
            Err(cancelled) if cancelled.failed(Action::Throttle) => {
                Err(ChangeIdentifierError::Locked)
            }
            Err(cancelled)
                if cancelled.failed(Action::Factor) || cancelled.failed(Action::Recovery) =>
            {
                Err(ChangeIdentifierError::CodeUsed)
            }
            // The profile or the old guard moved on, or a concurrent transaction touched them.
            Err(_) => Err(ChangeIdentifierError::Changed),
        }
    }

    /// The user's sessions by one `Query`, then one `TransactWriteItems`: the secret
    /// (conditional on the one `seen`), the throttle's reset and the revocation of up to 98
    /// logins; more logins are revoked 100 to a transaction after it.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_secret(
        &self,
        seen: &UserRecord,
        change: &SecretChange<'_>,
        now: Millis,
    ) -> Result<UserRecord, ChangeSecretError> {
        let next_epoch = seen.auth_epoch + 1;
        let (epoch_check, mut values) = epoch_condition(seen.auth_epoch);
        values.extend([
            (":kind".to_string(), s(change.kind.as_str())),
            (":hash".to_string(), s(change.hash)),
            (":now".to_string(), n(now)),
            (":seen".to_string(), s(&seen.secret_hash)),
            (":next".to_string(), n(next_epoch)),
        ]);
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(seen.user_id)))
            .key("sk", s(PROFILE))
            .update_expression(
                "SET secret_kind = :kind, secret_hash = :hash, updated_at = :now, \
                 auth_epoch = :next",
            )
            .condition_expression(format!("secret_hash = :seen AND ({epoch_check})"))
            .set_expression_attribute_values(Some(values))
            .build()
            .context("Failed to build the secret update")?;
        // The login that asked stays: it moves to the new epoch with the account.
        let kept = change
            .keep_session
            .map(|sid| {
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(user_pk(seen.user_id)))
                    .key("sk", s(session_sk(sid)))
                    .update_expression("SET auth_epoch = :next")
                    .condition_expression(
                        "attribute_exists(pk) AND revoked = :false AND expires_at > :now",
                    )
                    .expression_attribute_values(":next", n(next_epoch))
                    .expression_attribute_values(":false", AttributeValue::Bool(false))
                    .expression_attribute_values(":now", n(now.div_euclid(1000)))
                    .build()
                    .context("Failed to build the kept login's move")
            })
            .transpose()?;
        let mut attempt = 0;
        loop {
            let others: Vec<String> = self
                .list_sessions(seen.user_id, now.div_euclid(1000))
                .await?
                .into_iter()
                .map(|s| s.session_id)
                .filter(|id| Some(id.as_str()) != change.keep_session)
                .collect();
            let mut tx = Transaction::default();
            tx.push(
                Action::User,
                TransactWriteItem::builder().update(update.clone()).build(),
            );
            if let Some(release) = change.release {
                tx.push(
                    Action::Throttle,
                    throttle_release(&self.table, release, now)?,
                );
            }
            if let Some(kept) = &kept {
                tx.push(
                    Action::KeptSession,
                    TransactWriteItem::builder().update(kept.clone()).build(),
                );
            }
            if let Some(factor) = change.factor {
                for (action, write) in factor_change(&self.table, seen.user_id, factor, now)? {
                    tx.push(action, write);
                }
            }
            let first = others.len().min(TRANSACTION_MAX - tx.len());
            for sid in &others[..first] {
                tx.push(
                    Action::Session,
                    session_revocation(&self.table, seen.user_id, sid)?,
                );
            }
            match self.transact(&tx, "change secret").await? {
                Ok(()) => {
                    self.revoke_sessions(seen.user_id, &others[first..], now.div_euclid(1000))
                        .await?;
                    let mut user = seen.clone();
                    user.secret_kind = change.kind;
                    user.secret_hash = change.hash.to_string();
                    user.auth_epoch = next_epoch;
                    user.updated_at = now;
                    return Ok(user);
                }
                Err(c) if c.failed(Action::Throttle) => return Err(ChangeSecretError::Locked),
                Err(c) if c.failed(Action::Factor) || c.failed(Action::Recovery) => {
                    return Err(ChangeSecretError::CodeUsed)
                }
                Err(c) if c.failed(Action::User) || c.failed(Action::KeptSession) => {
                    return Err(ChangeSecretError::Changed)
                }
                // A login removed meanwhile (its TTL) or a concurrent transaction: list again.
                Err(c) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(cancelled = %c, "secret change retried");
                    backoff(attempt).await;
                }
                Err(c) => {
                    return Err(anyhow::anyhow!("secret change cancelled: {c}").into());
                }
            }
        }
    }

    /// A `Query` of the pending transfers for one from or to the account and one of the
    /// account's partition; then one `TransactWriteItems` — the profile (at the version seen,
    /// balance 0), its guards, its throttle records and up to the first logins — and after it
    /// the rest: logins, entities and idempotency records deleted (`BatchWriteItem`), the
    /// remarks of its entries and of the transfers it sent removed (one `UpdateItem` each).
    #[tracing::instrument(level = "debug", skip_all)]
    async fn close_account(
        &self,
        seen: &UserRecord,
        throttle_keys: &[String],
        code: Option<&CodeUse>,
    ) -> Result<(), CloseAccountError> {
        let me = seen.user_id.to_string();
        // The account's partition and its inbox's shards, read at once (whatever moves between
        // the two reads, the write below is conditional on both).
        let inbox_keys: Vec<(String, String)> = (0..INBOX_SHARDS)
            .map(|shard| (inbox_pk(seen.user_id, shard), INBOX.to_string()))
            .collect();
        let inbox_wanted: Vec<&(String, String)> = inbox_keys.iter().collect();
        let (items, inbox) = tokio::try_join!(
            self.query_partition(user_pk(seen.user_id), SortKeys::All, "account items"),
            self.batch_get(&inbox_wanted),
        )?;
        let sk = |item: &Item| Attrs(item).req_s("sk");
        let mut tx = Transaction::default();
        // No transfer it sent is pending: its entries, read consistently with the account
        // (a transfer made since moves its version, and the close below is conditional on it).
        for it in &items {
            if sk(it)?.starts_with("TX#") {
                let e = parse_entry(it)?;
                if e.kind == EntryKind::TransferOut && e.status == TxStatus::Pending {
                    return Err(CloseAccountError::TransferPending);
                }
            }
        }
        // No transfer to it pending: as many made in its inbox as have ended, each shard of
        // the inbox deleted below on the condition that nothing was made in it since the read
        // (a shard not open yet, on the condition that it is still not).
        let mut made = 0;
        for key in &inbox_keys {
            let write = match inbox.get(key) {
                Some(shard) => {
                    let count: i64 = Attrs(shard).num(MADE)?;
                    made += count;
                    delete_if(
                        &self.table,
                        key.0.clone(),
                        INBOX,
                        Some(("made = :made", item([(":made", n(count))]))),
                    )?
                }
                None => delete_if(
                    &self.table,
                    key.0.clone(),
                    INBOX,
                    Some(("attribute_not_exists(pk)", Item::new())),
                )?,
            };
            tx.push(Action::Inbox, write);
        }
        let profile = items
            .iter()
            .find(|it| sk(it).is_ok_and(|k| k == PROFILE))
            .ok_or(CloseAccountError::Changed)?;
        if made > settled_in(profile) || pending_transfers(profile) {
            return Err(CloseAccountError::TransferPending);
        }
        // Only as read: its money (version, balance 0), no transfer to it pending (the count
        // the transfers' own transactions keep), and the identifiers whose guards go with it —
        // an identifier changed meanwhile would otherwise stay claimed for good.
        let mut condition = "version = :v AND balance = :zero \
             AND (attribute_not_exists(pending_in) OR pending_in <= :zero)"
            .to_string();
        let mut values = item([(":v", n(seen.version)), (":zero", n(0))]);
        for (kind, value) in [
            (IdentifierKind::Username, &seen.username),
            (IdentifierKind::Email, &seen.email),
            (IdentifierKind::Phone, &seen.phone_number),
        ] {
            let field = kind.field();
            match value {
                Some(v) => {
                    condition.push_str(&format!(" AND {field} = :{field}"));
                    values.insert(format!(":{field}"), s(v));
                }
                None => condition.push_str(&format!(" AND attribute_not_exists({field})")),
            }
        }
        tx.push(
            Action::User,
            delete_if(
                &self.table,
                user_pk(seen.user_id),
                PROFILE,
                Some((&condition, values)),
            )?,
        );
        for id in seen.identifiers() {
            tx.push(
                Action::Delete,
                delete_if(
                    &self.table,
                    guard_pk(&id),
                    GUARD,
                    Some(("user_id = :me", item([(":me", s(&me))]))),
                )?,
            );
        }
        for key in throttle_keys {
            tx.push(
                Action::Throttle,
                delete(&self.table, throttle_pk(key), THROTTLE)?,
            );
        }
        // Its factor and recovery codes go in the same write, on the condition that the code
        // it was stepped up with is still unused.
        let removal = FactorChange::Remove(code.cloned());
        for (action, write) in factor_change(&self.table, seen.user_id, &removal, now_millis())? {
            tx.push(action, write);
        }
        // Deleted after the account: its logins (the first ones with it), entities and
        // idempotency records; its entries keep their place without remarks.
        let mut to_delete = Vec::new();
        let mut entries = Vec::new();
        for it in &items {
            let key = sk(it)?;
            if key.starts_with("TX#") {
                entries.push(parse_entry(it)?);
            } else if ![PROFILE, FACTOR, RECOVERY].contains(&key.as_str()) {
                to_delete.push(key);
            }
        }
        to_delete.sort_by_key(|k| !k.starts_with("SESSION#"));
        let first = to_delete
            .iter()
            .take_while(|k| k.starts_with("SESSION#"))
            .take(TRANSACTION_MAX.saturating_sub(tx.len()))
            .count();
        for key in &to_delete[..first] {
            tx.push(
                Action::Session,
                delete(&self.table, user_pk(seen.user_id), key)?,
            );
        }
        match self.transact(&tx, "close account").await? {
            Ok(()) => {}
            Err(c) if c.failed(Action::Factor) || c.failed(Action::Recovery) => {
                return Err(CloseAccountError::CodeUsed)
            }
            // A transfer to it made after the read (whatever else failed with it).
            Err(c) if c.failed(Action::Inbox) => return Err(CloseAccountError::TransferPending),
            Err(c) if c.failed(Action::User) => {
                return Err(match self.get(user_pk(seen.user_id), PROFILE).await? {
                    Some(now) if parse_user(&now)?.balance != 0 => {
                        CloseAccountError::BalanceNotZero
                    }
                    Some(now) if pending_transfers(&now) => CloseAccountError::TransferPending,
                    _ => CloseAccountError::Changed,
                });
            }
            // A guard no longer the account's: the identifier moved after the read.
            Err(c) if c.failed(Action::Delete) || c.conflicted() => {
                return Err(CloseAccountError::Changed)
            }
            Err(c) => return Err(anyhow::anyhow!("closing the account was cancelled: {c}").into()),
        }
        self.batch_delete(user_pk(seen.user_id), &to_delete[first..])
            .await?;
        let mut remarks: Vec<(String, String)> = Vec::new();
        for e in entries {
            if e.kind == EntryKind::TransferOut {
                remarks.push((transfer_pk(&e.reference_id), TRANSFER.to_string()));
            }
            if !e.remarks.is_empty() {
                remarks.push((user_pk(seen.user_id), entry_sk(e.seq)));
            }
        }
        self.remove_remarks(remarks).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_user(&self, user: UserId) -> StoreResult<bool> {
        let Some(record) = self.get_user(user).await? else {
            return Ok(false);
        };
        let mut tx = Transaction::default();
        tx.push(Action::Delete, delete(&self.table, user_pk(user), PROFILE)?);
        for shard in 0..INBOX_SHARDS {
            tx.push(
                Action::Delete,
                delete(&self.table, inbox_pk(user, shard), INBOX)?,
            );
        }
        for id in record.identifiers() {
            tx.push(Action::Delete, delete(&self.table, guard_pk(&id), GUARD)?);
        }
        for (action, write) in factor_removal(&self.table, user)? {
            tx.push(action, write);
        }
        self.transact(&tx, "delete user")
            .await?
            .map(|()| true)
            .map_err(|cancelled| anyhow::anyhow!("deleting user {user} was cancelled: {cancelled}"))
    }
}
