//! The keys of every item kind: partition and sort keys, the shards of the sparse `pending`
//! index, and the keys of the other indexes.

use crate::domain::{EntityId, IdentifierKind, LoginIdentifier, UserId};
use crate::store::TxStatus;

pub(in crate::store::dynamodb) const PROFILE: &str = "PROFILE";
pub(in crate::store::dynamodb) const GUARD: &str = "GUARD";
pub(in crate::store::dynamodb) const THROTTLE: &str = "THROTTLE";
pub(in crate::store::dynamodb) const TRANSFER: &str = "TRANSFER";

/// Shards of each index key a transfer writes: the sparse `pending` index and each status of
/// `transfers_by_status`. DynamoDB takes about 1,000 write units a second on one partition key
/// value (of an index too, whose lag throttles the table), and a transfer writes 2 under its
/// pending key (in, then out when settled) and 1 under its final status: 32 shards carry
/// 16,000 transfers a second. Readers merge the shards.
pub(in crate::store::dynamodb) const TRANSFER_SHARDS: u32 = 32;

/// Shards of a recipient's count of the transfers made to it ([`inbox_pk`]): a transfer adds
/// to one, so transfers made to one account at once seldom touch the same item.
pub(in crate::store::dynamodb) const INBOX_SHARDS: u32 = 8;
pub(in crate::store::dynamodb) const INBOX: &str = "INBOX";

/// The item of shard `shard` of `user`'s count of the transfers made to it, in a partition of
/// its own (the user's takes the credits).
pub(in crate::store::dynamodb) fn inbox_pk(user: impl std::fmt::Display, shard: u32) -> String {
    format!("INBOX#{user}#{shard:02}")
}

/// The shard of a recipient's count that transfer `id` adds to.
pub(in crate::store::dynamodb) fn inbox_shard(id: &str) -> u32 {
    id_hash(id) % INBOX_SHARDS
}

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

/// The shard of transfer `id`. Items written when the `pending` index had 4 shards carry
/// `PENDING#0` to `PENDING#3`, which readers of the 32 still cover.
fn transfer_shard(id: &str) -> u32 {
    id_hash(id) % TRANSFER_SHARDS
}

fn id_hash(id: &str) -> u32 {
    id.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
}

pub(super) fn pending_shard(id: &str) -> String {
    pending_shard_key(transfer_shard(id))
}

/// Partition key of a transfer in `transfers_by_status`: its status and shard (`SUCCESS#07`).
pub(in crate::store::dynamodb) fn status_key(status: TxStatus, id: &str) -> String {
    status_shard_key(status, transfer_shard(id))
}

pub(in crate::store::dynamodb) fn status_shard_key(status: TxStatus, shard: u32) -> String {
    format!("{}#{shard:02}", status.as_str())
}

/// Every partition key of `status` in `transfers_by_status`: its shards, and the status alone
/// as items written before the index was sharded carry it.
pub(in crate::store::dynamodb) fn status_keys(status: TxStatus) -> Vec<String> {
    (0..TRANSFER_SHARDS)
        .map(|shard| status_shard_key(status, shard))
        .chain(std::iter::once(status.as_str().to_string()))
        .collect()
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
