//! The user item (an account's profile): its constructor and parser, its auth epoch, its
//! balance and its count of pending incoming transfers, and the guard item that reserves each
//! of its identifiers.

use anyhow::Context;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::domain::{LoginIdentifier, SecretKind, UserId};
use crate::store::{LedgerEntry, Role, UserRecord};

use super::keys::{guard_pk, user_pk, GUARD, PROFILE};
use super::{item, n, s, Attrs, Item};

pub(in crate::store::dynamodb) fn user_item(u: &UserRecord) -> Item {
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

pub(in crate::store::dynamodb) fn parse_user(item: &Item) -> anyhow::Result<UserRecord> {
    let a = Attrs(item);
    Ok(UserRecord {
        user_id: a.id("user_id")?,
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
pub(in crate::store::dynamodb) fn auth_epoch(item: &Item) -> u64 {
    Attrs(item).opt_num("auth_epoch").unwrap_or(0)
}

/// A condition that an item's `auth_epoch` is `epoch` (absent counts as 0), with its values.
pub(in crate::store::dynamodb) fn epoch_condition(epoch: u64) -> (&'static str, Item) {
    let expression = if epoch == 0 {
        "attribute_exists(pk) AND (attribute_not_exists(auth_epoch) OR auth_epoch = :epoch)"
    } else {
        "auth_epoch = :epoch"
    };
    (expression, item([(":epoch", n(epoch))]))
}

/// Checks that the account is at auth epoch `epoch` (so exists), without reading it.
pub(in crate::store::dynamodb) fn account_at_epoch(
    table: &str,
    user: UserId,
    epoch: u64,
) -> anyhow::Result<TransactWriteItem> {
    let (condition, values) = epoch_condition(epoch);
    profile_check(table, user, condition, Some(values))
}

/// Moves an account to the next auth epoch (ending every login bound to the one before);
/// the account must exist.
pub(in crate::store::dynamodb) fn epoch_advance(
    table: &str,
    user: UserId,
) -> anyhow::Result<TransactWriteItem> {
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
pub(in crate::store::dynamodb) fn parse_balance(item: &Item) -> anyhow::Result<(i64, u64)> {
    let a = Attrs(item);
    Ok((a.num("balance")?, a.num("version")?))
}

/// The count, on an account's item, of the transfers to it still pending: added in the
/// transfer's transaction, taken off when it ends (credited, refunded or given up). Closing the
/// account is conditional on it being 0 (absent counts as 0). Transfers it sent and still
/// pending are its own pending ledger entries, which closing reads consistently with it.
pub(in crate::store::dynamodb) const PENDING_IN: &str = "pending_in";

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
pub(in crate::store::dynamodb) fn pending_transfers(item: &Item) -> bool {
    Attrs(item).opt_num::<i64>(PENDING_IN).unwrap_or(0) > 0
}

/// Adds `delta` to an existing account's [`PENDING_IN`], without reading it (a transfer's
/// recipient: when the transfer is made, and when it ends without crediting it).
pub(in crate::store::dynamodb) fn pending_in_update(
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
pub(in crate::store::dynamodb) fn balance_update_counting(
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
                .key("pk", s(user_pk(entry.user_id)))
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

/// The item that reserves an identifier for one account.
pub(in crate::store::dynamodb) fn guard_item(id: &LoginIdentifier, user: UserId) -> Item {
    item([
        ("pk", s(guard_pk(id))),
        ("sk", s(GUARD)),
        ("user_id", s(user.to_string())),
    ])
}

/// The account a guard reserves its identifier for.
pub(in crate::store::dynamodb) fn parse_guard(item: &Item) -> anyhow::Result<UserId> {
    Attrs(item).id("user_id")
}
