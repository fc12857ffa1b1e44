//! Each user's inventory of products: create, read, list, replace, delete.

use crate::domain::{now_millis, EntityId};
use crate::paging::{InvalidCursor, Listing, Page, PageRequest};
use crate::service::sessions::{Caller, Principal, SessionError};
use crate::state::AppState;
use crate::store::{self, Entity, EntityFilter, Reads};

/// What the store refuses (a taken code, no such entity of the caller's, another version),
/// or the caller's login or cursor.
#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    #[error(transparent)]
    Refused(#[from] store::EntityError),
    /// The caller's login is no longer live.
    #[error("Unauthenticated")]
    Unauthenticated,
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
}

impl EntityError {
    fn not_found() -> Self {
        Self::Refused(store::EntityError::NotFound)
    }
}

impl From<anyhow::Error> for EntityError {
    fn from(e: anyhow::Error) -> Self {
        Self::Refused(store::EntityError::Unexpected(e))
    }
}

impl From<SessionError> for EntityError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => Self::Unauthenticated,
            SessionError::Unexpected(e) => e.into(),
        }
    }
}

/// The path's entity id; one that is not a UUID names no entity (404, once the caller's login
/// is known to be live: 401 comes first, as for every route).
async fn path_id(
    state: &AppState,
    caller: &Caller,
    raw: Option<&str>,
) -> Result<EntityId, EntityError> {
    match raw.and_then(|id| EntityId::parse(id).ok()) {
        Some(id) => Ok(id),
        None => {
            caller.check(state).await?;
            Err(EntityError::not_found())
        }
    }
}

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

#[tracing::instrument(skip_all)]
pub async fn create(
    state: &AppState,
    owner: &Principal,
    fields: EntityFields,
) -> Result<Entity, EntityError> {
    let owner = owner.user_id;
    let now = now_millis();
    let entity = Entity {
        entity_id: EntityId::new(),
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

/// The caller's entity (`entity_id` as the path gives it): one read with the session check.
#[tracing::instrument(skip_all)]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    entity_id: Option<&str>,
) -> Result<Entity, EntityError> {
    let entity_id = path_id(state, caller, entity_id).await?;
    read(state, caller, entity_id).await
}

async fn read(
    state: &AppState,
    caller: &Caller,
    entity_id: EntityId,
) -> Result<Entity, EntityError> {
    let reads = Reads {
        entity: Some((caller.user_id(), entity_id)),
        ..Reads::default()
    };
    let (_, snap) = caller.load(state, reads).await?;
    snap.entity.ok_or_else(EntityError::not_found)
}

/// One page of the caller's entities matching `filter`, in code order. The session check and
/// the page are read at once: one round trip of latency.
#[tracing::instrument(skip_all, fields(limit = page.limit))]
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &EntityFilter,
    page: &PageRequest,
) -> Result<Page<Entity>, EntityError> {
    // The cursor is bound to the user and the filters: it can't be replayed on another listing.
    let scope = serde_json::json!(["entities", filter.kind, filter.code]).to_string();
    let listing = Listing::new(state.cursor_key(), caller.user_id(), scope);
    let after = listing.start(page, |p| Some(p.to_string()))?;
    let rows: Vec<Entity> = caller
        .alongside::<_, EntityError>(
            state,
            state
                .store()
                .list_entities(caller.user_id(), filter, after.as_deref(), page.limit + 1),
        )
        .await?;
    Ok(listing.page(rows, page.limit, |e| e.code.clone()))
}

/// Reads the entity (the first time with the session check, again after a lost race) and
/// checks `if_match` against its version.
async fn current(
    state: &AppState,
    caller: &Caller,
    first: bool,
    entity_id: EntityId,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let entity = if first {
        read(state, caller, entity_id).await?
    } else {
        state
            .store()
            .get_entity(caller.user_id(), entity_id)
            .await?
            .ok_or_else(EntityError::not_found)?
    };
    if if_match.is_some_and(|v| v != entity.version) {
        return Err(store::EntityError::VersionConflict.into());
    }
    Ok(entity)
}

/// Replaces the mutable fields. With `if_match`, only if the entity is at that version.
#[tracing::instrument(skip_all)]
pub async fn replace(
    state: &AppState,
    caller: &Caller,
    entity_id: Option<&str>,
    fields: EntityFields,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let entity_id = path_id(state, caller, entity_id).await?;
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
            Err(store::EntityError::VersionConflict)
                if if_match.is_none() && attempt < ATTEMPTS => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Deletes the entity and answers it. With `if_match`, only if it is at that version.
#[tracing::instrument(skip_all)]
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    entity_id: Option<&str>,
    if_match: Option<u64>,
) -> Result<Entity, EntityError> {
    let entity_id = path_id(state, caller, entity_id).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let entity = current(state, caller, attempt == 1, entity_id, if_match).await?;
        match state.store().delete_entity(&entity).await {
            Ok(()) => return Ok(entity),
            Err(store::EntityError::VersionConflict)
                if if_match.is_none() && attempt < ATTEMPTS => {}
            Err(e) => return Err(e.into()),
        }
    }
}
