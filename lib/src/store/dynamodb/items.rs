//! Every item kind's key, constructor and parser, the write actions built from them, and the
//! named actions of a transaction (so a cancellation reason is read by what it cancelled, not
//! by position).

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use crate::auth::Throttle;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};
use crate::store::first_version;
use crate::store::{
    Entity, EntryKind, IdempotencyClaim, IdempotencyRecord, LedgerEntry, Role, Session,
    SessionInfo, ThrottleRelease, ThrottleWrite, Transfer, TxStatus, UserRecord, Versioned,
};

pub(super) type Item = HashMap<String, AttributeValue>;

/// Shards of the sparse `pending` index, so no single index partition takes every transfer.
pub(super) const PENDING_SHARDS: u32 = 4;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn item<const N: usize>(attributes: [(&str, AttributeValue); N]) -> Item {
    attributes
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// TTL attributes are seconds; everything else here is milliseconds.
pub(super) fn ttl_seconds(millis: Millis) -> i64 {
    (millis + 999) / 1000
}

// Keys.

pub(super) const PROFILE: &str = "PROFILE";
pub(super) const GUARD: &str = "GUARD";
pub(super) const THROTTLE: &str = "THROTTLE";
pub(super) const TRANSFER: &str = "TRANSFER";

pub(super) fn user_pk(id: impl std::fmt::Display) -> String {
    format!("USER#{id}")
}

pub(super) fn guard_pk(id: &LoginIdentifier) -> String {
    let prefix = match id.kind {
        IdentifierKind::Username => "USERNAME",
        IdentifierKind::Email => "EMAIL",
        IdentifierKind::Phone => "PHONE",
    };
    format!("{prefix}#{}", id.key)
}

pub(super) fn session_sk(sid: &str) -> String {
    format!("SESSION#{sid}")
}

pub(super) fn throttle_pk(key: &str) -> String {
    format!("THROTTLE#{key}")
}

pub(super) fn entry_sk(seq: u64) -> String {
    format!("TX#{seq:020}")
}

pub(super) fn idem_sk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}

pub(super) fn transfer_pk(id: &str) -> String {
    format!("TRANSFER#{id}")
}

pub(super) fn pending_shard_key(shard: u32) -> String {
    format!("PENDING#{shard}")
}

fn pending_shard(id: &str) -> String {
    let h = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    pending_shard_key(h % PENDING_SHARDS)
}

pub(super) fn entity_sk(entity_id: &str) -> String {
    format!("ENTITY#{entity_id}")
}

pub(super) fn entity_code_sk(code: &str) -> String {
    format!("ENTITY_CODE#{code}")
}

/// Partition key of the `entities_by_type` index: the owner's key and the type (a user id has
/// a fixed length, so the two can't run into each other).
pub(super) fn entity_owner_type(user: UserId, kind: &str) -> String {
    format!("{}#{kind}", user_pk(user))
}

/// Typed reads of item attributes.
pub(super) struct Attrs<'a>(pub &'a Item);

impl Attrs<'_> {
    pub fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    pub fn req_s(&self, name: &str) -> anyhow::Result<String> {
        self.opt_s(name)
            .with_context(|| format!("item lacks string attribute {name}"))
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<T> {
        self.opt_num(name)
            .with_context(|| format!("item lacks numeric attribute {name}"))
    }

    pub fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.0
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    pub fn bool(&self, name: &str) -> bool {
        self.0
            .get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false)
    }

    fn user_id(&self, name: &str) -> anyhow::Result<UserId> {
        let id = self.req_s(name)?;
        UserId::parse(&id).map_err(|e| anyhow::anyhow!("bad {name} {id}: {e}"))
    }
}

// Item kinds.

pub(super) fn user_item(u: &UserRecord) -> Item {
    let mut item = item([
        ("pk", s(user_pk(u.user_id))),
        ("sk", s(PROFILE)),
        ("user_id", s(u.user_id.to_string())),
        ("secret_kind", s(u.secret_kind.as_str())),
        ("secret_hash", s(&u.secret_hash)),
        ("role", s(u.role.as_str())),
        ("balance", n(u.balance)),
        ("version", n(u.version)),
        ("created_at", n(u.created_at)),
        ("updated_at", n(u.updated_at)),
    ]);
    for (name, value) in [
        ("username", &u.username),
        ("email", &u.email),
        ("phone_number", &u.phone_number),
        ("first_name", &u.first_name),
        ("last_name", &u.last_name),
        ("address", &u.address),
    ] {
        if let Some(v) = value {
            item.insert(name.to_string(), s(v));
        }
    }
    // Absent reads as epoch 0 (accounts written before epochs, and the example dataset).
    if u.auth_epoch != 0 {
        item.insert("auth_epoch".to_string(), n(u.auth_epoch));
    }
    item
}

pub(super) fn parse_user(item: &Item) -> anyhow::Result<UserRecord> {
    let a = Attrs(item);
    Ok(UserRecord {
        user_id: a.user_id("user_id")?,
        username: a.opt_s("username"),
        email: a.opt_s("email"),
        phone_number: a.opt_s("phone_number"),
        first_name: a.opt_s("first_name"),
        last_name: a.opt_s("last_name"),
        address: a.opt_s("address"),
        secret_kind: SecretKind::parse(&a.req_s("secret_kind")?).context("bad secret_kind")?,
        secret_hash: a.req_s("secret_hash")?,
        role: Role::parse(&a.req_s("role")?).context("bad role")?,
        balance: a.num("balance")?,
        version: a.num("version")?,
        auth_epoch: auth_epoch(item),
        created_at: a.num("created_at")?,
        updated_at: a.num("updated_at")?,
    })
}

/// The auth epoch of a user or session item (absent: 0, as written before epochs).
pub(super) fn auth_epoch(item: &Item) -> u64 {
    Attrs(item).opt_num("auth_epoch").unwrap_or(0)
}

/// A condition that an item's `auth_epoch` is `epoch` (absent counts as 0), with its values.
pub(super) fn epoch_condition(epoch: u64) -> (&'static str, Item) {
    let expression = if epoch == 0 {
        "attribute_exists(pk) AND (attribute_not_exists(auth_epoch) OR auth_epoch = :epoch)"
    } else {
        "auth_epoch = :epoch"
    };
    (expression, item([(":epoch", n(epoch))]))
}

/// Checks that the account is at auth epoch `epoch` (so exists), without reading it.
pub(super) fn account_at_epoch(
    table: &str,
    user: UserId,
    epoch: u64,
) -> anyhow::Result<TransactWriteItem> {
    let (condition, values) = epoch_condition(epoch);
    profile_check(table, user, condition, Some(values))
}

/// Moves an account to the next auth epoch (ending every login bound to the one before);
/// the account must exist.
pub(super) fn epoch_advance(table: &str, user: UserId) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(PROFILE))
                .update_expression("ADD auth_epoch :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", n(1))
                .build()
                .context("Failed to build an epoch advance")?,
        )
        .build())
}

/// Balance and version of a user item.
pub(super) fn parse_balance(item: &Item) -> anyhow::Result<(i64, u64)> {
    let a = Attrs(item);
    Ok((a.num("balance")?, a.num("version")?))
}

/// The item that reserves an identifier for one account.
pub(super) fn guard_item(id: &LoginIdentifier, user: UserId) -> Item {
    item([
        ("pk", s(guard_pk(id))),
        ("sk", s(GUARD)),
        ("user_id", s(user.to_string())),
    ])
}

/// The account a guard reserves its identifier for.
pub(super) fn parse_guard(item: &Item) -> anyhow::Result<UserId> {
    Attrs(item).user_id("user_id")
}

pub(super) fn session_item(session: &Session) -> Item {
    let mut item = item([
        ("pk", s(user_pk(session.user_id))),
        ("sk", s(session_sk(&session.session_id))),
        ("refresh_jti", s(&session.refresh_jti)),
        ("revoked", AttributeValue::Bool(session.revoked)),
        ("expires_at", n(session.expires_at)),
        ("created_at", n(session.created_at)),
        ("last_used_at", n(session.created_at)),
        ("auth_epoch", n(session.auth_epoch)),
    ]);
    if let Some(agent) = &session.user_agent {
        item.insert("user_agent".to_string(), s(agent));
    }
    item
}

/// A family as its user sees it (families recorded before these attributes read as created
/// and last used at 0, from an unknown agent).
pub(super) fn parse_session_info(item: &Item) -> anyhow::Result<SessionInfo> {
    let a = Attrs(item);
    let sk = a.req_s("sk")?;
    Ok(SessionInfo {
        session_id: sk.strip_prefix("SESSION#").unwrap_or(&sk).to_string(),
        created_at: a.opt_num("created_at").unwrap_or(0),
        last_used_at: a.opt_num("last_used_at").unwrap_or(0),
        user_agent: a.opt_s("user_agent"),
    })
}

/// Marks a family revoked, if it still exists.
pub(super) fn session_revocation(
    table: &str,
    user: UserId,
    session_id: &str,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(session_sk(session_id)))
                .update_expression("SET revoked = :true")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .build()
                .context("Failed to build a session revocation")?,
        )
        .build())
}

/// Whether a family is neither revoked nor expired at `now_secs` (it is live only while its
/// account is at its auth epoch too: [`session_live`]).
pub(super) fn session_active(item: &Item, now_secs: i64) -> anyhow::Result<bool> {
    let a = Attrs(item);
    Ok(!a.bool("revoked") && a.num::<i64>("expires_at")? > now_secs)
}

/// Whether a family can still be used at `now_secs`: active, and bound to the auth epoch its
/// account (`profile`, `None` when gone) is at.
pub(super) fn session_live(
    session: &Item,
    profile: Option<&Item>,
    now_secs: i64,
) -> anyhow::Result<bool> {
    Ok(
        profile.is_some_and(|p| auth_epoch(p) == auth_epoch(session))
            && session_active(session, now_secs)?,
    )
}

pub(super) fn throttle_item(
    key: &str,
    state: &Throttle,
    version: u64,
    expires_at: Option<Millis>,
) -> Item {
    let mut item = item([
        ("pk", s(throttle_pk(key))),
        ("sk", s(THROTTLE)),
        ("failures", n(state.failures)),
        ("locked_until", n(state.locked_until)),
        ("last_lock_ms", n(state.last_lock_ms)),
        ("gen", n(state.gen)),
        ("trusted_until", n(state.trusted_until)),
        ("version", n(version)),
    ]);
    if let Some(exp) = expires_at {
        item.insert("expires_at".into(), n(ttl_seconds(exp)));
    }
    item
}

/// The throttle state, `None` once its TTL has passed at `now` (DynamoDB deletes expired
/// items only eventually).
pub(super) fn parse_throttle(
    item: &Item,
    now: Millis,
) -> anyhow::Result<Option<Versioned<Throttle>>> {
    let a = Attrs(item);
    if a.opt_num::<i64>("expires_at")
        .is_some_and(|e| e * 1000 <= now)
    {
        return Ok(None);
    }
    Ok(Some(Versioned {
        value: Throttle {
            failures: a.num("failures")?,
            locked_until: a.num("locked_until")?,
            last_lock_ms: a.num("last_lock_ms")?,
            gen: a.opt_num("gen").unwrap_or(0),
            trusted_until: a.opt_num("trusted_until").unwrap_or(0),
        },
        version: a.num("version")?,
    }))
}

pub(super) fn entry_item(e: &LedgerEntry) -> Item {
    item([
        ("pk", s(user_pk(&e.user_id))),
        ("sk", s(entry_sk(e.seq))),
        ("user_id", s(&e.user_id)),
        ("seq", n(e.seq)),
        ("kind", s(e.kind.as_str())),
        ("reference_id", s(&e.reference_id)),
        ("amount", n(e.amount)),
        ("remarks", s(&e.remarks)),
        ("balance_before", n(e.balance_before)),
        ("balance_after", n(e.balance_after)),
        ("status", s(e.status.as_str())),
        ("created_at", n(e.created_at)),
    ])
}

pub(super) fn parse_entry(item: &Item) -> anyhow::Result<LedgerEntry> {
    let a = Attrs(item);
    Ok(LedgerEntry {
        user_id: a.req_s("user_id")?,
        seq: a.num("seq")?,
        kind: EntryKind::parse(&a.req_s("kind")?).context("bad entry kind")?,
        reference_id: a.req_s("reference_id")?,
        amount: a.num("amount")?,
        remarks: a.opt_s("remarks").unwrap_or_default(),
        balance_before: a.num("balance_before")?,
        balance_after: a.num("balance_after")?,
        status: TxStatus::parse(&a.req_s("status")?).context("bad entry status")?,
        created_at: a.num("created_at")?,
    })
}

pub(super) fn idempotency_item(
    user: UserId,
    claim: &IdempotencyClaim,
    entry: &LedgerEntry,
) -> anyhow::Result<Item> {
    Ok(item([
        ("pk", s(user_pk(user))),
        ("sk", s(idem_sk(claim.scope, &claim.key))),
        ("request_hash", s(&claim.request_hash)),
        (
            "entry",
            s(serde_json::to_string(entry).context("encode entry")?),
        ),
        ("expires_at", n(ttl_seconds(claim.expires_at))),
    ]))
}

/// The record of a used key, `None` once expired at `now`.
pub(super) fn parse_idempotency(
    item: &Item,
    now: Millis,
) -> anyhow::Result<Option<IdempotencyRecord>> {
    let a = Attrs(item);
    if a.num::<i64>("expires_at")? * 1000 <= now {
        return Ok(None);
    }
    Ok(Some(IdempotencyRecord {
        request_hash: a.req_s("request_hash")?,
        entry: serde_json::from_str(&a.req_s("entry")?)
            .context("stored idempotent entry is not valid")?,
    }))
}

/// A transfer whose debit is the sender's entry `sender_seq`, as it is stored in its status:
/// while `PENDING` it is in the sparse `pending` index; settled, it has left the index and
/// carries `settled_at` and `suspense` (as [`transfer_settlement`] leaves it).
pub(super) fn transfer_item(t: &Transfer, sender_seq: u64) -> Item {
    let mut item = item([
        ("pk", s(transfer_pk(&t.transfer_id))),
        ("sk", s(TRANSFER)),
        ("transfer_id", s(&t.transfer_id)),
        ("from_user", s(&t.from_user)),
        ("to_user", s(&t.to_user)),
        ("amount", n(t.amount)),
        ("remarks", s(&t.remarks)),
        ("status", s(t.status.as_str())),
        ("created_at", n(t.created_at)),
        ("sender_seq", n(sender_seq)),
        ("transfer_status", s(t.status.as_str())),
        (
            "transfer_order",
            s(transfer_order(t.created_at, &t.transfer_id)),
        ),
    ]);
    if t.status == TxStatus::Pending {
        item.insert("pending_shard".into(), s(pending_shard(&t.transfer_id)));
        item.insert("pending_since".into(), n(t.created_at));
    } else {
        item.insert("settled_at".into(), n(t.settled_at.unwrap_or(t.created_at)));
        item.insert("suspense".into(), AttributeValue::Bool(t.suspense));
    }
    item
}

/// Sort key of the `transfers_by_status` index: creation time, then id.
pub(super) fn transfer_order(created_at: Millis, transfer_id: &str) -> String {
    format!("{created_at:020}#{transfer_id}")
}

/// The transfer and the sequence number of the sender's entry.
pub(super) fn parse_transfer(item: &Item) -> anyhow::Result<(Transfer, u64)> {
    let a = Attrs(item);
    Ok((
        Transfer {
            transfer_id: a.req_s("transfer_id")?,
            from_user: a.req_s("from_user")?,
            to_user: a.req_s("to_user")?,
            amount: a.num("amount")?,
            remarks: a.opt_s("remarks").unwrap_or_default(),
            status: TxStatus::parse(&a.req_s("status")?).context("bad transfer status")?,
            created_at: a.num("created_at")?,
            settled_at: a.opt_num("settled_at"),
            suspense: a.bool("suspense"),
        },
        a.num("sender_seq")?,
    ))
}

/// An entity; `entity_owner`/`entity_code` key the `entities_by_code` index (a user's
/// entities in code order), `entity_owner_type`/`entity_code` the `entities_by_type` index.
pub(super) fn entity_item(e: &Entity) -> Item {
    let mut item = item([
        ("pk", s(user_pk(e.user_id))),
        ("sk", s(entity_sk(&e.entity_id))),
        ("entity_id", s(&e.entity_id)),
        ("user_id", s(e.user_id.to_string())),
        ("code", s(&e.code)),
        ("type", s(&e.kind)),
        ("quantity", n(e.quantity)),
        ("version", n(e.version)),
        ("created_at", n(e.created_at)),
        ("updated_at", n(e.updated_at)),
        ("entity_owner", s(user_pk(e.user_id))),
        (
            "entity_owner_type",
            s(entity_owner_type(e.user_id, &e.kind)),
        ),
        ("entity_code", s(&e.code)),
    ]);
    for (name, value) in [("name", &e.name), ("description", &e.description)] {
        if let Some(v) = value {
            item.insert(name.to_string(), s(v));
        }
    }
    item
}

pub(super) fn parse_entity(item: &Item) -> anyhow::Result<Entity> {
    let a = Attrs(item);
    Ok(Entity {
        entity_id: a.req_s("entity_id")?,
        user_id: a.user_id("user_id")?,
        code: a.req_s("code")?,
        kind: a.req_s("type")?,
        quantity: a.num("quantity")?,
        name: a.opt_s("name"),
        description: a.opt_s("description"),
        version: a.num("version")?,
        created_at: a.num("created_at")?,
        updated_at: a.num("updated_at")?,
    })
}

/// The item that reserves a code among one user's entities.
pub(super) fn entity_code_item(e: &Entity) -> Item {
    item([
        ("pk", s(user_pk(e.user_id))),
        ("sk", s(entity_code_sk(&e.code))),
        ("entity_id", s(&e.entity_id)),
    ])
}

// Write actions.

/// Puts `item` on the condition that no item has its key yet.
pub(super) fn put_new(table: &str, item: Item) -> anyhow::Result<TransactWriteItem> {
    put(table, item, "attribute_not_exists(pk)", None)
}

pub(super) fn put(
    table: &str,
    item: Item,
    condition: &str,
    values: Option<Item>,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .context("Failed to build a put")?,
        )
        .build())
}

/// Puts an idempotency record unless a live one holds the key.
pub(super) fn put_idempotency(
    table: &str,
    item: Item,
    now: Millis,
) -> anyhow::Result<TransactWriteItem> {
    let values = Some([(":now".to_string(), n(now / 1000))].into());
    put(
        table,
        item,
        "attribute_not_exists(pk) OR expires_at <= :now",
        values,
    )
}

pub(super) fn delete(table: &str, pk: String, sk: &str) -> anyhow::Result<TransactWriteItem> {
    delete_if(table, pk, sk, None)
}

/// Deletes an item on `condition` (an expression and its values), if given.
pub(super) fn delete_if(
    table: &str,
    pk: String,
    sk: &str,
    condition: Option<(&str, Item)>,
) -> anyhow::Result<TransactWriteItem> {
    let (expression, values) = condition.unzip();
    Ok(TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .set_condition_expression(expression.map(str::to_string))
                .set_expression_attribute_values(values)
                .build()
                .context("Failed to build a delete")?,
        )
        .build())
}

/// Writes a throttle record if it is still at the version it was read at (or, read as absent,
/// has no live item).
pub(super) fn throttle_put(
    table: &str,
    write: &ThrottleWrite,
    now: Millis,
) -> anyhow::Result<TransactWriteItem> {
    let item = throttle_item(
        &write.key,
        &write.state,
        write.version(),
        Some(write.expires_at),
    );
    match write.expected {
        None => put(
            table,
            item,
            "attribute_not_exists(pk) OR expires_at <= :now",
            Some([(":now".to_string(), n(now.div_euclid(1000)))].into()),
        ),
        Some(v) => put(
            table,
            item,
            "version = :v",
            Some([(":v".to_string(), n(v))].into()),
        ),
    }
}

/// Resets the login throttle after a verified secret, unless an attempt other than the one
/// that reserved it has locked it (see `ThrottleStore::release_throttle`). The version moves
/// on from whatever it is, never back.
pub(super) fn throttle_release(
    table: &str,
    release: &ThrottleRelease,
    now: Millis,
) -> anyhow::Result<TransactWriteItem> {
    let st = &release.state;
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(throttle_pk(&release.key)))
                .key("sk", s(THROTTLE))
                .update_expression(
                    "SET failures = :failures, locked_until = :locked, last_lock_ms = :last, \
                     gen = :gen, trusted_until = :trusted, expires_at = :exp, \
                     version = if_not_exists(version, :born) + :one",
                )
                .condition_expression(
                    "attribute_not_exists(pk) OR version = :v OR locked_until <= :now \
                     OR expires_at <= :now_secs",
                )
                .expression_attribute_values(":failures", n(st.failures))
                .expression_attribute_values(":locked", n(st.locked_until))
                .expression_attribute_values(":last", n(st.last_lock_ms))
                .expression_attribute_values(":gen", n(st.gen))
                .expression_attribute_values(":trusted", n(st.trusted_until))
                .expression_attribute_values(":exp", n(ttl_seconds(release.expires_at)))
                .expression_attribute_values(":born", n(first_version(Some(release.expires_at))))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":v", n(release.reserved))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":now_secs", n(now.div_euclid(1000)))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .context("Failed to build a throttle reset")?,
        )
        .build())
}

/// The count, on an account's item, of the transfers to it still pending: added in the
/// transfer's transaction, taken off when it ends (credited, refunded or given up). Closing the
/// account is conditional on it being 0 (absent counts as 0). Transfers it sent and still
/// pending are its own pending ledger entries, which closing reads consistently with it.
pub(super) const PENDING_IN: &str = "pending_in";

/// The `SET` clause changing [`PENDING_IN`] by `:delta` ([`change_pending_in`] gives the
/// values), never below 0: an item written before the count was kept counts none.
const PENDING_IN_CHANGE: &str = "#pending = if_not_exists(#pending, :absent) + :delta";

fn change_pending_in(update: UpdateBuilder, delta: i64) -> UpdateBuilder {
    update
        .expression_attribute_names("#pending", PENDING_IN)
        .expression_attribute_values(":absent", n((-delta).max(0)))
        .expression_attribute_values(":delta", n(delta))
}

/// Whether an account's item counts a transfer to it still pending.
pub(super) fn pending_transfers(item: &Item) -> bool {
    Attrs(item).opt_num::<i64>(PENDING_IN).unwrap_or(0) > 0
}

/// Adds `delta` to an existing account's [`PENDING_IN`], without reading it (a transfer's
/// recipient: when the transfer is made, and when it ends without crediting it).
pub(super) fn pending_in_update(
    table: &str,
    user: UserId,
    delta: i64,
) -> anyhow::Result<TransactWriteItem> {
    let update = Update::builder()
        .table_name(table)
        .key("pk", s(user_pk(user)))
        .key("sk", s(PROFILE))
        .update_expression(format!("SET {PENDING_IN_CHANGE}"))
        .condition_expression("attribute_exists(pk)");
    Ok(TransactWriteItem::builder()
        .update(
            change_pending_in(update, delta)
                .build()
                .context("Failed to build a pending count")?,
        )
        .build())
}

/// Checks `condition` (with its `values`) on an account's profile, without reading it.
fn profile_check(
    table: &str,
    user: UserId,
    condition: &str,
    values: Option<Item>,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(PROFILE))
                .condition_expression(condition)
                .set_expression_attribute_values(values)
                .build()
                .context("Failed to build a condition check")?,
        )
        .build())
}

/// Moves an account from the version it was read at to the next, with its new balance, and
/// adds `pending_in` (when given) to its [`PENDING_IN`].
pub(super) fn balance_update_counting(
    table: &str,
    entry: &LedgerEntry,
    pending_in: Option<i64>,
) -> anyhow::Result<TransactWriteItem> {
    let mut expression = "SET balance = :after, version = :next, updated_at = :now".to_string();
    let mut update = Update::builder();
    if let Some(delta) = pending_in {
        expression.push_str(&format!(", {PENDING_IN_CHANGE}"));
        update = change_pending_in(update, delta);
    }
    Ok(TransactWriteItem::builder()
        .update(
            update
                .table_name(table)
                .key("pk", s(user_pk(&entry.user_id)))
                .key("sk", s(PROFILE))
                .update_expression(expression)
                .condition_expression("version = :v")
                .expression_attribute_values(":after", n(entry.balance_after))
                .expression_attribute_values(":next", n(entry.seq))
                .expression_attribute_values(":now", n(entry.created_at))
                .expression_attribute_values(":v", n(entry.seq - 1))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .context("Failed to build a balance update")?,
        )
        .build())
}

pub(super) fn entry_status_update(
    table: &str,
    user: &str,
    seq: u64,
    status: TxStatus,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(entry_sk(seq)))
                .update_expression("SET #status = :status")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()))
                .build()
                .context("Failed to build an entry status update")?,
        )
        .build())
}

/// Marks a `PENDING` transfer settled with `status` (and `suspense`), taking it out of the
/// `pending` index; conditional on it still being `PENDING`.
pub(super) fn transfer_settlement(
    table: &str,
    transfer_id: &str,
    status: TxStatus,
    suspense: bool,
    now: Millis,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(transfer_pk(transfer_id)))
                .key("sk", s(TRANSFER))
                .update_expression(
                    "SET #status = :final, transfer_status = :final, settled_at = :now, \
                     suspense = :suspense REMOVE pending_shard, pending_since",
                )
                .condition_expression("#status = :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":final", s(status.as_str()))
                .expression_attribute_values(":pending", s(TxStatus::Pending.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":suspense", AttributeValue::Bool(suspense))
                .build()
                .context("Failed to build the transfer update")?,
        )
        .build())
}

/// True when a single-item write was refused by its condition expression.
pub(super) fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

// Transactions with named actions.

/// What one write of a transaction does, to read its cancellation reason by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// A new user item.
    User,
    /// The guard of one identifier.
    Guard(IdentifierKind),
    /// An account's balance and version.
    Balance,
    /// A new ledger entry.
    Entry,
    /// A new transfer.
    Transfer,
    /// The recipient of a new transfer must exist.
    Recipient,
    /// A login throttle record.
    Throttle,
    /// A new refresh family.
    Session,
    /// The account must be at a given auth epoch, or moves to the next.
    Epoch,
    /// The login that asked for a secret change, moved to the account's new epoch.
    KeptSession,
    /// An idempotency record.
    Idempotency,
    /// A pending transfer marked settled.
    Settlement,
    /// The sender's entry of a transfer, marked with its final status.
    SenderEntry,
    /// A removed item.
    Delete,
    /// An entity written on the condition of its version.
    Entity,
    /// The claim of an entity's code.
    EntityCode,
}

/// The writes of one `TransactWriteItems`, each named by its action.
#[derive(Default)]
pub(super) struct Transaction {
    actions: Vec<(Action, TransactWriteItem)>,
}

impl Transaction {
    pub fn push(&mut self, action: Action, write: TransactWriteItem) -> &mut Self {
        self.actions.push((action, write));
        self
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn items(&self) -> Vec<TransactWriteItem> {
        self.actions.iter().map(|(_, w)| w.clone()).collect()
    }

    /// The cancellation reasons of `err`, each with the action it names (DynamoDB answers them
    /// in the order of the writes); `None` when `err` is no cancellation.
    pub fn cancelled(&self, err: &SdkError<TransactWriteItemsError>) -> Option<Cancelled> {
        let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
        else {
            return None;
        };
        Some(Cancelled(
            self.actions
                .iter()
                .zip(e.cancellation_reasons())
                .map(|((action, _), reason)| {
                    (
                        *action,
                        reason.code().unwrap_or("None").to_string(),
                        reason.item.clone(),
                    )
                })
                .collect(),
        ))
    }
}

/// Why a transaction was cancelled, action by action.
#[derive(Debug)]
/// Each action's cancellation reason code, and the item as it was when its condition failed
/// (for writes asking `ALL_OLD`).
pub(super) struct Cancelled(Vec<(Action, String, Option<Item>)>);

impl Cancelled {
    /// The first action whose condition failed.
    pub fn first_failed(&self) -> Option<Action> {
        self.0
            .iter()
            .find(|(_, code, _)| code == "ConditionalCheckFailed")
            .map(|(action, _, _)| *action)
    }

    /// Whether `action`'s condition failed.
    pub fn failed(&self, action: Action) -> bool {
        self.0
            .iter()
            .any(|(a, code, _)| *a == action && code == "ConditionalCheckFailed")
    }

    /// The item `action` found when its condition failed (`None` when it did not fail, asked
    /// for no old item, or found none).
    pub fn old_item(&self, action: Action) -> Option<&Item> {
        self.0
            .iter()
            .find(|(a, code, _)| *a == action && code == "ConditionalCheckFailed")
            .and_then(|(_, _, item)| item.as_ref())
    }

    /// Whether a concurrent transaction on the same items cancelled this one.
    pub fn conflicted(&self) -> bool {
        self.0
            .iter()
            .any(|(_, code, _)| code == "TransactionConflict")
    }

    /// Whether every reason is a failed condition or a conflict, i.e. trying again on fresh
    /// reads may succeed.
    pub fn retryable(&self) -> bool {
        self.conflicted() || self.first_failed().is_some()
    }
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reasons: Vec<String> = self
            .0
            .iter()
            .filter(|(_, code, _)| code != "None")
            .map(|(action, code, _)| format!("{action:?}: {code}"))
            .collect();
        write!(f, "{}", reasons.join(", "))
    }
}
