//! The keys of every item kind: partition and sort keys, the shards of the sparse `pending`
//! index, and the keys of the other indexes.

use crate::domain::{EntityId, IdentifierKind, LoginIdentifier, UserId};

pub(in crate::store::dynamodb) const PROFILE: &str = "PROFILE";
pub(in crate::store::dynamodb) const GUARD: &str = "GUARD";
pub(in crate::store::dynamodb) const THROTTLE: &str = "THROTTLE";
pub(in crate::store::dynamodb) const TRANSFER: &str = "TRANSFER";

/// Shards of the sparse `pending` index, so no single index partition takes every transfer.
pub(in crate::store::dynamodb) const PENDING_SHARDS: u32 = 4;

pub(in crate::store::dynamodb) fn user_pk(id: impl std::fmt::Display) -> String {
    format!("USER#{id}")
}

pub(in crate::store::dynamodb) fn guard_pk(id: &LoginIdentifier) -> String {
    let prefix = match id.kind {
        IdentifierKind::Username => "USERNAME",
        IdentifierKind::Email => "EMAIL",
        IdentifierKind::Phone => "PHONE",
    };
    format!("{prefix}#{}", id.key)
}

pub(in crate::store::dynamodb) fn session_sk(sid: &str) -> String {
    format!("SESSION#{sid}")
}

pub(in crate::store::dynamodb) fn throttle_pk(key: &str) -> String {
    format!("THROTTLE#{key}")
}

pub(in crate::store::dynamodb) fn entry_sk(seq: u64) -> String {
    format!("TX#{seq:020}")
}

pub(in crate::store::dynamodb) fn idem_sk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}

pub(in crate::store::dynamodb) fn transfer_pk(id: &str) -> String {
    format!("TRANSFER#{id}")
}

pub(in crate::store::dynamodb) fn pending_shard_key(shard: u32) -> String {
    format!("PENDING#{shard}")
}

pub(super) fn pending_shard(id: &str) -> String {
    let h = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    pending_shard_key(h % PENDING_SHARDS)
}

pub(in crate::store::dynamodb) fn entity_sk(entity_id: EntityId) -> String {
    format!("ENTITY#{entity_id}")
}

pub(in crate::store::dynamodb) fn entity_code_sk(code: &str) -> String {
    format!("ENTITY_CODE#{code}")
}

/// Partition key of the `entities_by_type` index: the owner's key and the type (a user id has
/// a fixed length, so the two can't run into each other).
pub(in crate::store::dynamodb) fn entity_owner_type(user: UserId, kind: &str) -> String {
    format!("{}#{kind}", user_pk(user))
}
