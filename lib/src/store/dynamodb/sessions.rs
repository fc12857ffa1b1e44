//! Refresh families.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::items::{
    condition_failed, n, parse_session_info, put_new, s, session_active, session_item,
    session_revocation, session_sk, throttle_release, user_pk, Action, Transaction,
};
use super::DynamoStore;
use crate::domain::{Millis, UserId};
use crate::store::{Rotation, Session, SessionInfo, SessionStore, StoreResult};

/// At most this many writes go into one `TransactWriteItems`.
pub(super) const TRANSACTION_MAX: usize = 100;

#[async_trait]
impl SessionStore for DynamoStore {
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

    async fn create_session_releasing(
        &self,
        session: &Session,
        throttle_key: &str,
        reserved: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let mut tx = Transaction::default();
        tx.push(
            Action::Throttle,
            throttle_release(&self.table, throttle_key, reserved, now)?,
        );
        tx.push(
            Action::Session,
            put_new(&self.table, session_item(session))?,
        );
        match self.transact(&tx, "login").await? {
            Ok(()) => Ok(true),
            Err(cancelled) if cancelled.failed(Action::Throttle) => Ok(false),
            Err(cancelled) => Err(anyhow::anyhow!("login cancelled: {cancelled}")),
        }
    }

    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        match self.get(user_pk(user), &session_sk(session_id)).await? {
            Some(item) => session_active(&item, now_secs),
            None => Ok(false),
        }
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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(session_sk(session_id)))
            .update_expression("SET refresh_jti = :new, expires_at = :exp, last_used_at = :now")
            .condition_expression(
                "refresh_jti = :presented AND revoked = :false AND expires_at > :now",
            )
            .expression_attribute_values(":new", s(new_jti))
            .expression_attribute_values(":exp", n(new_expires_at))
            .expression_attribute_values(":presented", s(presented_jti))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now_secs))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Rotation::Rotated),
            Err(e) => e.into_service_error(),
        };
        let UpdateItemError::ConditionalCheckFailedException(failed) = err else {
            return Err(anyhow::Error::new(err).context("DynamoDB UpdateItem (rotate) failed"));
        };
        // The old item tells a stale token of a live family (reuse) from an inactive family.
        match failed.item() {
            Some(old) if session_active(old, now_secs)? => {
                self.revoke_session(user, session_id, now_secs).await?;
                Ok(Rotation::Reused)
            }
            _ => Ok(Rotation::Inactive),
        }
    }

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

    /// One consistent `Query` of the user's partition for its session items.
    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>> {
        let mut sessions = Vec::new();
        for item in self
            .query_prefix(user_pk(user), &session_sk(""), "sessions")
            .await?
        {
            if session_active(&item, now_secs)? {
                sessions.push(parse_session_info(&item)?);
            }
        }
        sessions.sort_by(|a, b| (b.created_at, &a.session_id).cmp(&(a.created_at, &b.session_id)));
        Ok(sessions)
    }

    /// One `TransactWriteItems` per hundred families.
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
