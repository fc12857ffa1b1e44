//! Refresh families.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::items::{
    account_at_epoch, auth_epoch, code_use, condition_failed, epoch_advance, epoch_condition, n,
    parse_session_info, put_new, s, session_active, session_item, session_live, session_revocation,
    session_sk, throttle_release, user_pk, Action, Attrs, Item, Transaction, PROFILE,
};
use super::{backoff, DynamoStore, SortKeys, CONFLICT_RETRIES};
use crate::domain::{Millis, UserId};
use crate::store::{
    CodeUse, LoginWrite, Rotation, Session, SessionInfo, SessionStore, StoreResult, ThrottleRelease,
};

/// At most this many writes go into one `TransactWriteItems`.
pub(super) const TRANSACTION_MAX: usize = 100;

#[async_trait]
impl SessionStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_session(&self, session: &Session, _now_secs: i64) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .context("DynamoDB PutItem (session) failed")?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_session_releasing(
        &self,
        session: &Session,
        release: &ThrottleRelease,
        code: Option<&CodeUse>,
        now: Millis,
    ) -> StoreResult<LoginWrite> {
        let mut tx = Transaction::default();
        if let Some(code) = code {
            let (action, write) = code_use(&self.table, session.user_id, code)?;
            tx.push(action, write);
        }
        tx.push(
            Action::Throttle,
            throttle_release(&self.table, release, now)?,
        );
        tx.push(
            Action::Session,
            put_new(&self.table, session_item(session))?,
        );
        // The family is written only while the account is at the epoch its secret was
        // verified at: a secret change, a reset, logging out everywhere or closing that
        // commits first leaves nothing behind.
        tx.push(
            Action::Epoch,
            account_at_epoch(&self.table, session.user_id, session.auth_epoch)?,
        );
        // A concurrent write to the account (money moving) only delays the check.
        match self.transact_through_conflicts(&tx, "login").await? {
            Ok(()) => Ok(LoginWrite::Started),
            Err(cancelled) if cancelled.failed(Action::Throttle) => Ok(LoginWrite::Locked),
            Err(cancelled) if cancelled.failed(Action::Epoch) => Ok(LoginWrite::EpochMoved),
            Err(cancelled) if cancelled.failed(Action::Session) => Ok(LoginWrite::Duplicate),
            Err(cancelled)
                if cancelled.failed(Action::Factor) || cancelled.failed(Action::Recovery) =>
            {
                Ok(LoginWrite::CodeUsed)
            }
            Err(cancelled) => Err(anyhow::anyhow!("login cancelled: {cancelled}")),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let (session, profile) = (
            (user_pk(user), session_sk(session_id)),
            (user_pk(user), PROFILE.to_string()),
        );
        let found = self.batch_get(&[&session, &profile]).await?;
        match found.get(&session) {
            Some(item) => session_live(item, found.get(&profile), now_secs),
            None => Ok(false),
        }
    }

    /// One `TransactWriteItems`: the family's swap, conditional on the presented token and the
    /// family's epoch, and a check that the account is at that epoch.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        epoch: u64,
        new_jti: &str,
        new_expires_at: i64,
        now_secs: i64,
    ) -> StoreResult<Rotation> {
        let (epoch_check, mut values) = epoch_condition(epoch);
        values.extend([
            (":new".to_string(), s(new_jti)),
            (":exp".to_string(), n(new_expires_at)),
            (":presented".to_string(), s(presented_jti)),
            (":false".to_string(), AttributeValue::Bool(false)),
            (":now".to_string(), n(now_secs)),
        ]);
        let swap = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(session_sk(session_id)))
            .update_expression("SET refresh_jti = :new, expires_at = :exp, last_used_at = :now")
            .condition_expression(format!(
                "refresh_jti = :presented AND revoked = :false AND expires_at > :now AND ({epoch_check})"
            ))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .context("Failed to build a rotation")?;
        let mut tx = Transaction::default();
        tx.push(
            Action::Session,
            TransactWriteItem::builder().update(swap).build(),
        );
        tx.push(Action::Epoch, account_at_epoch(&self.table, user, epoch)?);
        let Err(cancelled) = self.transact_through_conflicts(&tx, "rotate").await? else {
            return Ok(Rotation::Rotated);
        };
        if !cancelled.failed(Action::Session) {
            // The family is as the token says, but its account left that epoch: it is over.
            return if cancelled.failed(Action::Epoch) {
                Ok(Rotation::Inactive)
            } else {
                Err(anyhow::anyhow!("rotation cancelled: {cancelled}"))
            };
        }
        // The old item tells a stale token of a live family (reuse) from an inactive family,
        // and a family moved to another epoch.
        let Some(old) = cancelled.old_item(Action::Session) else {
            return Ok(Rotation::Inactive);
        };
        if !session_active(old, now_secs)? {
            return Ok(Rotation::Inactive);
        }
        if Attrs(old).opt_s("refresh_jti").as_deref() != Some(presented_jti) {
            self.revoke_session(user, session_id, now_secs).await?;
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Moved {
            auth_epoch: auth_epoch(old),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn revoke_session(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(session_sk(session_id)))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk) AND revoked = :false AND expires_at > :now")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (revoke) failed")),
        }
    }

    /// One consistent `Query` of the user's partition for its profile and its session items
    /// (the sort keys from `PROFILE` to the last `SESSION#`: only the reset record and the
    /// recovery codes lie between, and are skipped).
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>> {
        let items = self.profile_and_sessions(user).await?;
        let profile = items.iter().find(|i| sk_of(i) == PROFILE);
        let mut sessions = Vec::new();
        for item in items.iter().filter(|i| sk_of(i).starts_with("SESSION#")) {
            if session_live(item, profile, now_secs)? {
                sessions.push(parse_session_info(item)?);
            }
        }
        sessions.sort_by(|a, b| (b.created_at, &a.session_id).cmp(&(a.created_at, &b.session_id)));
        Ok(sessions)
    }

    /// One `TransactWriteItems`: the epoch's advance and the first 99 revocations; the rest
    /// follow 100 to a transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn end_every_login(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<bool> {
        let mut first = sessions.len().min(TRANSACTION_MAX - 1);
        let mut attempt = 0;
        loop {
            let mut tx = Transaction::default();
            tx.push(Action::Epoch, epoch_advance(&self.table, user)?);
            for sid in &sessions[..first] {
                tx.push(Action::Session, session_revocation(&self.table, user, sid)?);
            }
            match self.transact(&tx, "end every login").await? {
                Ok(()) => break,
                Err(c) if c.failed(Action::Epoch) => return Ok(false),
                // A concurrent write to the account, or a login removed meanwhile (its TTL):
                // then the epoch moves alone, and the revocations follow one by one.
                Err(c) if c.retryable() && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(cancelled = %c, "ending every login retried");
                    if c.failed(Action::Session) {
                        first = 0;
                    }
                    backoff(attempt).await;
                }
                Err(c) => return Err(anyhow::anyhow!("ending every login was cancelled: {c}")),
            }
        }
        self.revoke_sessions(user, &sessions[first..], now_secs)
            .await?;
        Ok(true)
    }

    /// One `TransactWriteItems` per hundred families.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn revoke_sessions(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<usize> {
        let mut revoked = 0;
        for chunk in sessions.chunks(TRANSACTION_MAX) {
            let mut tx = Transaction::default();
            for sid in chunk {
                tx.push(Action::Session, session_revocation(&self.table, user, sid)?);
            }
            match self.transact(&tx, "revoke sessions").await? {
                Ok(()) => revoked += chunk.len(),
                // A family gone meanwhile (expired and removed): revoke the rest one by one.
                Err(_) => {
                    for sid in chunk {
                        revoked += usize::from(self.revoke_session(user, sid, now_secs).await?);
                    }
                }
            }
        }
        Ok(revoked)
    }
}

fn sk_of(item: &Item) -> String {
    Attrs(item).opt_s("sk").unwrap_or_default()
}

impl DynamoStore {
    /// The account's profile and session items, in one consistent `Query` (pages followed).
    pub(super) async fn profile_and_sessions(&self, user: UserId) -> StoreResult<Vec<Item>> {
        // '$' sorts right after '#': past every `SESSION#…` key.
        let keys = SortKeys::Between(PROFILE, "SESSION$");
        self.query_partition(user_pk(user), keys, "profile and sessions")
            .await
    }
}
