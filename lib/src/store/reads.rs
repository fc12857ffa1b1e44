//! What one request reads, in one round trip: the caller's session and whatever else the use
//! case needs (the account, an idempotency record, an identifier's owner, an entity, a
//! transfer). DynamoDB answers it with one `BatchGetItem` of strongly consistent reads; SQLite
//! with one read on one connection.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Entity, Factor, IdempotencyRecord, StoreResult, Transfer, UserRecord, Versioned};
use crate::auth::Throttle;
use crate::domain::{EntityId, LoginIdentifier, Millis, UserId};

/// The items to read. Each is optional; ask only for what the request uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// A refresh family to check: (account, session id).
    pub session: Option<(UserId, String)>,
    pub account: Option<UserId>,
    /// Another account whose existence matters (a transfer's recipient named by id).
    pub other_account: Option<UserId>,
    /// (account, route scope, key).
    pub idempotency: Option<(UserId, &'static str, String)>,
    /// Whose an identifier is.
    pub identifier: Option<LoginIdentifier>,
    /// (owner, entity id).
    pub entity: Option<(UserId, EntityId)>,
    pub transfer: Option<String>,
    /// Throttle records, by key.
    pub throttles: Vec<String>,
    /// An account's second factor.
    pub factor: Option<UserId>,
    /// An account's recovery code hashes.
    pub recovery_codes: Option<UserId>,
}

/// What [`Reads`] found, as of one moment per item (DynamoDB's batch reads are each
/// consistent, not one snapshot; every write that depends on them is conditional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The family exists, is not revoked and has not expired (false when not asked).
    pub session_active: bool,
    pub account: Option<UserRecord>,
    /// [`Reads::other_account`], when it exists.
    pub other_account: Option<UserRecord>,
    /// A live (unexpired) record of the key.
    pub idempotency: Option<IdempotencyRecord>,
    pub identifier_owner: Option<UserId>,
    pub entity: Option<Entity>,
    pub transfer: Option<Transfer>,
    /// The throttle records asked for, unless absent or expired, by key.
    pub throttles: HashMap<String, Versioned<Throttle>>,
    /// [`Reads::factor`], when the account has one (pending or active).
    pub factor: Option<Factor>,
    /// [`Reads::recovery_codes`]: the hashes of the codes not yet used.
    pub recovery_codes: Vec<String>,
}

#[async_trait]
pub trait ReadStore: Send + Sync + 'static {
    /// Reads everything `reads` names in one round trip; `now` decides what has expired.
    async fn read(&self, reads: &Reads, now: Millis) -> StoreResult<Snapshot>;
}
