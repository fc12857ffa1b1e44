//! Accounts and their identifier guards.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::items::{
    condition_failed, delete, guard_item, guard_pk, n, parse_guard, parse_user, put_new, s,
    user_item, user_pk, Action, Transaction, GUARD, PROFILE,
};
use super::{backoff, DynamoStore, CONFLICT_RETRIES};
use crate::domain::{LoginIdentifier, Millis, UserId};
use crate::store::{CreateUserError, IdentityStore, ProfileChanges, StoreResult, UserRecord};

#[async_trait]
impl IdentityStore for DynamoStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError> {
        let mut tx = Transaction::default();
        tx.push(Action::User, put_new(&self.table, user_item(user))?);
        for id in user.identifiers() {
            tx.push(
                Action::Guard(id.kind),
                put_new(&self.table, guard_item(&id, user.user_id))?,
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

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.get(user_pk(id), PROFILE)
            .await?
            .as_ref()
            .map(parse_user)
            .transpose()
    }

    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>> {
        let Some(guard) = self.get(guard_pk(identifier), GUARD).await? else {
            return Ok(None);
        };
        self.get_user(parse_guard(&guard)?).await
    }

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

    async fn delete_user(&self, user: UserId) -> StoreResult<bool> {
        let Some(record) = self.get_user(user).await? else {
            return Ok(false);
        };
        let mut tx = Transaction::default();
        tx.push(Action::Delete, delete(&self.table, user_pk(user), PROFILE)?);
        for id in record.identifiers() {
            tx.push(Action::Delete, delete(&self.table, guard_pk(&id), GUARD)?);
        }
        self.transact(&tx, "delete user")
            .await?
            .map(|()| true)
            .map_err(|cancelled| anyhow::anyhow!("deleting user {user} was cancelled: {cancelled}"))
    }
}
