//! Entities: the entity item (`USER#id` / `ENTITY#id`) and its code guard
//! (`USER#id` / `ENTITY_CODE#code`), written together; listings are one Query of the
//! `entities_by_code` or `entities_by_type` index.

use anyhow::Context;
use async_trait::async_trait;

use super::items::{
    delete, delete_if, entity_code_item, entity_code_sk, entity_item, entity_owner_type, entity_sk,
    n, parse_entity, put, put_new, s, user_pk, Action, Item, Transaction,
};
use super::{backoff, DynamoStore, CONFLICT_RETRIES};
use crate::domain::{EntityId, UserId};
use crate::store::{Entity, EntityError, EntityFilter, EntityStore, StoreResult};

impl DynamoStore {
    /// Runs an entity write, retrying transaction conflicts; a failed condition is answered by
    /// `on_failed` with the action that failed.
    async fn entity_write(
        &self,
        tx: &Transaction,
        what: &str,
        on_failed: impl Fn(Action) -> Option<EntityError>,
    ) -> Result<(), EntityError> {
        let mut attempt = 0;
        loop {
            let Err(cancelled) = self.transact(tx, what).await? else {
                return Ok(());
            };
            if let Some(error) = cancelled.first_failed().and_then(&on_failed) {
                return Err(error);
            }
            attempt += 1;
            if cancelled.conflicted() && attempt <= CONFLICT_RETRIES {
                backoff(attempt).await;
                continue;
            }
            return Err(anyhow::anyhow!("{what} cancelled: {cancelled}").into());
        }
    }

    /// After a failed version condition: gone, or changed by someone else.
    async fn missing_or_changed(&self, e: &Entity) -> EntityError {
        match self.get_entity(e.user_id, e.entity_id).await {
            Ok(Some(_)) => EntityError::VersionConflict,
            Ok(None) => EntityError::NotFound,
            Err(err) => EntityError::Unexpected(err),
        }
    }
}

/// Puts `after` over an entity still at `version`.
fn put_at_version(
    table: &str,
    after: &Entity,
    version: u64,
) -> anyhow::Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    let values: Item = [(":v".to_string(), n(version))].into();
    put(
        table,
        entity_item(after),
        "attribute_exists(pk) AND version = :v",
        Some(values),
    )
}

#[async_trait]
impl EntityStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_entity(&self, entity: &Entity) -> Result<(), EntityError> {
        let mut tx = Transaction::default();
        tx.push(Action::Entity, put_new(&self.table, entity_item(entity))?);
        tx.push(
            Action::EntityCode,
            put_new(&self.table, entity_code_item(entity))?,
        );
        self.entity_write(&tx, "create entity", |failed| {
            (failed == Action::EntityCode).then_some(EntityError::CodeTaken)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_entity(&self, user: UserId, entity_id: EntityId) -> StoreResult<Option<Entity>> {
        self.get(user_pk(user), &entity_sk(entity_id))
            .await?
            .as_ref()
            .map(parse_entity)
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_entities(
        &self,
        user: UserId,
        filter: &EntityFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Entity>> {
        let (index, owner_key, owner) = match &filter.kind {
            Some(kind) => (
                "entities_by_type",
                "entity_owner_type",
                entity_owner_type(user, kind),
            ),
            None => ("entities_by_code", "entity_owner", user_pk(user)),
        };
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_values(":owner", s(owner))
            .limit(limit.clamp(1, 1000) as i32);
        let condition = match (&filter.code, after) {
            // A code names at most one entity, which sorts after `after` or not at all.
            (Some(code), Some(after)) if code.as_str() <= after => return Ok(Vec::new()),
            (Some(code), _) => {
                req = req.expression_attribute_values(":code", s(code));
                "entity_code = :code"
            }
            (None, Some(after)) => {
                req = req.expression_attribute_values(":after", s(after));
                "entity_code > :after"
            }
            (None, None) => "",
        };
        let condition = if condition.is_empty() {
            format!("{owner_key} = :owner")
        } else {
            format!("{owner_key} = :owner AND {condition}")
        };
        let out = req
            .key_condition_expression(condition)
            .send()
            .await
            .context("DynamoDB Query (entities) failed")?;
        out.items().iter().map(parse_entity).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_entity(&self, before: &Entity, after: &Entity) -> Result<(), EntityError> {
        let mut tx = Transaction::default();
        tx.push(
            Action::Entity,
            put_at_version(&self.table, after, before.version)?,
        );
        if before.code != after.code {
            // The code's claim moves in the same transaction: no instant with both or neither.
            tx.push(
                Action::Delete,
                delete(
                    &self.table,
                    user_pk(before.user_id),
                    &entity_code_sk(&before.code),
                )?,
            );
            tx.push(
                Action::EntityCode,
                put_new(&self.table, entity_code_item(after))?,
            );
        }
        let result = self
            .entity_write(&tx, "update entity", |failed| match failed {
                Action::EntityCode => Some(EntityError::CodeTaken),
                // Resolved below: gone or changed.
                Action::Entity => Some(EntityError::VersionConflict),
                _ => None,
            })
            .await;
        match result {
            Err(EntityError::VersionConflict) => Err(self.missing_or_changed(before).await),
            other => other,
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_entity(&self, entity: &Entity) -> Result<(), EntityError> {
        let values: Item = [(":v".to_string(), n(entity.version))].into();
        let mut tx = Transaction::default();
        tx.push(
            Action::Entity,
            delete_if(
                &self.table,
                user_pk(entity.user_id),
                &entity_sk(entity.entity_id),
                Some(("attribute_exists(pk) AND version = :v", values)),
            )?,
        );
        tx.push(
            Action::EntityCode,
            delete(
                &self.table,
                user_pk(entity.user_id),
                &entity_code_sk(&entity.code),
            )?,
        );
        let result = self
            .entity_write(&tx, "delete entity", |failed| {
                (failed == Action::Entity).then_some(EntityError::VersionConflict)
            })
            .await;
        match result {
            Err(EntityError::VersionConflict) => Err(self.missing_or_changed(entity).await),
            other => other,
        }
    }
}
