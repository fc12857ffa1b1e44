//! Entities: one row each, `UNIQUE (user_id, code)`.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::domain::{EntityId, UserId};
use crate::store::{Entity, EntityError, EntityFilter, EntityStore, StoreResult};

const COLUMNS: &str = "entity_id, user_id, code, type, quantity, name, description, version, \
                       created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Entity> {
    let user: String = row.get(1)?;
    Ok(Entity {
        entity_id: row.get(0)?,
        user_id: UserId::parse(&user).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                "bad user_id".into(),
            )
        })?,
        code: row.get(2)?,
        kind: row.get(3)?,
        quantity: row.get(4)?,
        name: row.get(5)?,
        description: row.get(6)?,
        version: row.get::<_, i64>(7)? as u64,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

pub(super) fn select(
    c: &Connection,
    user: UserId,
    entity_id: EntityId,
) -> rusqlite::Result<Option<Entity>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM entities WHERE user_id = ?1 AND entity_id = ?2"
    ))?
    .query_row(params![user, entity_id], from_row)
    .optional()
}

/// Whether another entity of the user has `code`.
fn code_taken(c: &Connection, e: &Entity) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM entities WHERE user_id = ?1 AND code = ?2 AND entity_id <> ?3")?
        .query_row(params![e.user_id.to_string(), e.code, e.entity_id], |_| {
            Ok(())
        })
        .optional()
        .map(|found| found.is_some())
}

pub(super) fn insert_entity(tx: &Connection, e: &Entity) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO entities ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        e.entity_id,
        e.user_id.to_string(),
        e.code,
        e.kind,
        e.quantity,
        e.name,
        e.description,
        e.version as i64,
        e.created_at,
        e.updated_at
    ])?;
    Ok(())
}

#[async_trait]
impl EntityStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_entity(&self, entity: &Entity) -> Result<(), EntityError> {
        let e = entity.clone();
        self.write(move |tx| {
            if code_taken(tx, &e).context("Failed to check an entity code")? {
                return Err(EntityError::CodeTaken);
            }
            insert_entity(tx, &e).context("Failed to insert an entity")?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_entity(&self, user: UserId, entity_id: EntityId) -> StoreResult<Option<Entity>> {
        self.read(move |c| Ok(select(c, user, entity_id)?)).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_entities(
        &self,
        user: UserId,
        filter: &EntityFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Entity>> {
        let filter = filter.clone();
        let after = after.map(str::to_string);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM entities WHERE user_id = ?1 \
                 AND (?2 IS NULL OR type = ?2) AND (?3 IS NULL OR code = ?3) \
                 AND (?4 IS NULL OR code > ?4) ORDER BY code LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    user.to_string(),
                    filter.kind,
                    filter.code,
                    after,
                    limit as i64
                ],
                from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_entity(&self, before: &Entity, after: &Entity) -> Result<(), EntityError> {
        let (expected, e) = (before.version, after.clone());
        self.write(move |tx| {
            let current = select(tx, e.user_id, e.entity_id)
                .context("Failed to read an entity")?
                .ok_or(EntityError::NotFound)?;
            if current.version != expected {
                return Err(EntityError::VersionConflict);
            }
            if code_taken(tx, &e).context("Failed to check an entity code")? {
                return Err(EntityError::CodeTaken);
            }
            tx.prepare_cached(
                "UPDATE entities SET code = ?3, type = ?4, quantity = ?5, name = ?6, \
                 description = ?7, version = ?8, updated_at = ?9 \
                 WHERE user_id = ?1 AND entity_id = ?2",
            )
            .context("Failed to prepare an entity update")?
            .execute(params![
                e.user_id,
                e.entity_id,
                e.code,
                e.kind,
                e.quantity,
                e.name,
                e.description,
                e.version as i64,
                e.updated_at
            ])
            .context("Failed to update an entity")?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_entity(&self, entity: &Entity) -> Result<(), EntityError> {
        let (user, id, expected) = (entity.user_id, entity.entity_id, entity.version as i64);
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM entities WHERE user_id = ?1 AND entity_id = ?2 AND version = ?3",
                )
                .context("Failed to prepare an entity delete")?
                .execute(params![user, id, expected])
                .context("Failed to delete an entity")?;
            if deleted == 1 {
                return Ok(());
            }
            Err(
                match select(tx, user, id).context("Failed to read an entity")? {
                    Some(_) => EntityError::VersionConflict,
                    None => EntityError::NotFound,
                },
            )
        })
        .await
    }
}
