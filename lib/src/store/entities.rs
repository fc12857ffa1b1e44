//! Each user's inventory of products ("entities").

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{EntityId, Millis, UserId};

/// One product of one user's inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub entity_id: EntityId,
    pub user_id: UserId,
    /// Unique among the user's entities.
    pub code: String,
    pub kind: String,
    pub quantity: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    /// 1 at creation, +1 on every change.
    pub version: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Which entities a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityFilter {
    pub kind: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    /// Another entity of the user has this code.
    #[error("code already used")]
    CodeTaken,
    /// No such entity of this user.
    #[error("entity not found")]
    NotFound,
    /// The entity is at another version than the one the change was based on.
    #[error("entity changed meanwhile")]
    VersionConflict,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A user's entities: each write checks code uniqueness (and the expected version) in the same
/// atomic write.
#[async_trait]
pub trait EntityStore: Send + Sync + 'static {
    /// Stores a new entity (version 1); `CodeTaken` when the user has the code already.
    async fn create_entity(&self, entity: &Entity) -> Result<(), EntityError>;
    async fn get_entity(&self, user: UserId, entity_id: EntityId) -> StoreResult<Option<Entity>>;
    /// The user's entities matching `filter`, ordered by code, starting after the code
    /// `after`, at most `limit`.
    async fn list_entities(
        &self,
        user: UserId,
        filter: &EntityFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Entity>>;
    /// Replaces `before` (as read) with `after` if the stored entity is still at
    /// `before.version` (else `VersionConflict`; `NotFound` when it is gone); a changed code
    /// moves its uniqueness claim in the same atomic write (`CodeTaken` when another entity
    /// has it).
    async fn update_entity(&self, before: &Entity, after: &Entity) -> Result<(), EntityError>;
    /// Removes `entity` (as read) if it is still at its version (else `VersionConflict`;
    /// `NotFound` when it is gone), and its code with it.
    async fn delete_entity(&self, entity: &Entity) -> Result<(), EntityError>;
}
