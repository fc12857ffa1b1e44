//! Each user's inventory of products: create, read, list, replace, delete.

use crate::domain::{now_millis, UserId};
use crate::service::sessions::{Caller, SessionError};
use crate::state::AppState;
use crate::store::{Entity, EntityError, EntityFilter, Reads, StoreResult};

/// The mutable fields of an entity, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityFields {
    pub code: String,
    pub kind: String,
    pub quantity: i64,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// How many times a change without `If-Match` is re-applied on a fresh read when someone else
/// changed the entity between our read and our write.
const ATTEMPTS: usize = 5;

pub async fn create(
    state: &AppState,
    owner: UserId,
    fields: EntityFields,
) -> Result<Entity, EntityError> {
    let now = now_millis();
    let entity = Entity {
        entity_id: uuid::Uuid::new_v4().to_string(),
        user_id: owner,
        code: fields.code,
        kind: fields.kind,
        quantity: fields.quantity,
        name: fields.name,
        description: fields.description,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    state.store().create_entity(&entity).await?;
    Ok(entity)
}

/// The caller's entity: one read with the session check.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    entity_id: &str,
) -> Result<Option<Entity>, EntityError> {
    let reads = Reads {
        entity: Some((caller.user_id(), entity_id.to_string())),
        ..Reads::default()
    };
    let (_, snap) = caller.load(state, reads).await.map_err(|e| match e {
        SessionError::Unauthenticated => EntityError::Unauthenticated,
        SessionError::Unexpected(e) => EntityError::Unexpected(e),
    })?;
    Ok(snap.entity)
}

/// One page in code order, after the code `after`, and whether more follow.
pub async fn list(
    state: &AppState,
    owner: UserId,
    filter: &EntityFilter,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<(Vec<Entity>, bool)> {
    let rows = state
        .store()
        .list_entities(owner, filter, after, limit + 1)
        .await?;
    Ok(super::page_of(rows, limit))
}

/// Reads the entity (the first time with the session check, again after a lost race) and
/// checks `if_match` against its version.
async fn current(
    state: &AppState,
    caller: &Caller,
    first: bool,
    entity_id: &str,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let entity = if first {
        get(state, caller, entity_id).await?
    } else {
        state
            .store()
            .get_entity(caller.user_id(), entity_id)
            .await?
    };
    let entity = entity.ok_or(EntityError::NotFound)?;
    if if_match.is_some_and(|v| v != entity.version) {
        return Err(EntityError::VersionConflict);
    }
    Ok(entity)
}

/// Replaces the mutable fields. With `if_match`, only if the entity is at that version.
pub async fn replace(
    state: &AppState,
    caller: &Caller,
    entity_id: &str,
    fields: EntityFields,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = current(state, caller, attempt == 1, entity_id, if_match).await?;
        let after = Entity {
            code: fields.code.clone(),
            kind: fields.kind.clone(),
            quantity: fields.quantity,
            name: fields.name.clone(),
            description: fields.description.clone(),
            version: before.version + 1,
            updated_at: now_millis().max(before.updated_at),
            ..before.clone()
        };
        match state.store().update_entity(&before, &after).await {
            Ok(()) => return Ok(after),
            Err(EntityError::VersionConflict) if if_match.is_none() && attempt < ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}

/// Deletes the entity and answers it. With `if_match`, only if it is at that version.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    entity_id: &str,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let entity = current(state, caller, attempt == 1, entity_id, if_match).await?;
        match state.store().delete_entity(&entity).await {
            Ok(()) => return Ok(entity),
            Err(EntityError::VersionConflict) if if_match.is_none() && attempt < ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}
