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

use super::keys::{guard_pk, inbox_pk, user_pk, GUARD, INBOX, PROFILE};
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

/// The count, on an account's item, of the transfers to it still pending that were made
/// before the inbox ([`Counted::Profile`]): added in the transfer's transaction, taken off when
/// it ends. Absent counts as 0.
pub(in crate::store::dynamodb) const PENDING_IN: &str = "pending_in";

/// How many transfers made in the account's inbox have ended (credited, refunded or given
/// up), on its item. The transfers to it still pending are the inbox shards' `made`, summed,
/// less this, plus [`PENDING_IN`]; closing the account is conditional on none.
pub(in crate::store::dynamodb) const SETTLED_IN: &str = "settled_in";

/// The attribute of a shard of an inbox ([`inbox_pk`]): how many transfers were made in it.
pub(in crate::store::dynamodb) const MADE: &str = "made";

/// The attribute of a transfer made in its recipient's inbox: the shard.
pub(in crate::store::dynamodb) const INBOX_SHARD: &str = "inbox_shard";

/// How a transfer counts, while pending, on its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store::dynamodb) enum Counted {
    /// In [`PENDING_IN`] on the recipient's item: transfers made before the inbox, whose
    /// making wrote the recipient's item (and so conflicted with its credits).
    Profile,
    /// In a shard of the recipient's inbox, and once ended in [`SETTLED_IN`]: the making of
    /// the transfer writes no item the credits write.
    Inbox,
}

impl Counted {
    /// How the transfer `item` is counted.
    pub fn of(item: &Item) -> Self {
        if item.contains_key(INBOX_SHARD) {
            Self::Inbox
        } else {
            Self::Profile
        }
    }
}

/// Transfers to one account that ended, by how each was counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::store::dynamodb) struct Ended {
    pub profile: i64,
    pub inbox: i64,
}

impl Ended {
    pub fn one(counted: Counted) -> Self {
        let mut ended = Self::default();
        ended.add(counted);
        ended
    }

    pub fn add(&mut self, counted: Counted) {
        match counted {
            Counted::Profile => self.profile += 1,
            Counted::Inbox => self.inbox += 1,
        }
    }

    /// The `SET` clauses counting these ends on the account's item, and their values: the
    /// pending count never falls below 0 (an item written before the count was kept counts
    /// none), the ended count starts at 0.
    fn clauses(&self, mut update: UpdateBuilder) -> (Vec<&'static str>, UpdateBuilder) {
        let mut clauses = Vec::new();
        if self.profile > 0 {
            clauses.push("#pending = if_not_exists(#pending, :pending_absent) - :pending_ended");
            update = update
                .expression_attribute_names("#pending", PENDING_IN)
                .expression_attribute_values(":pending_absent", n(self.profile))
                .expression_attribute_values(":pending_ended", n(self.profile));
        }
        if self.inbox > 0 {
            clauses.push("#settled = if_not_exists(#settled, :settled_absent) + :settled_ended");
            update = update
                .expression_attribute_names("#settled", SETTLED_IN)
                .expression_attribute_values(":settled_absent", n(0))
                .expression_attribute_values(":settled_ended", n(self.inbox));
        }
        (clauses, update)
    }
}

/// Whether an account's item counts a transfer to it still pending (of those counted on it).
pub(in crate::store::dynamodb) fn pending_transfers(item: &Item) -> bool {
    Attrs(item).opt_num::<i64>(PENDING_IN).unwrap_or(0) > 0
}

/// How many transfers made in an account's inbox have ended.
pub(in crate::store::dynamodb) fn settled_in(item: &Item) -> i64 {
    Attrs(item).opt_num::<i64>(SETTLED_IN).unwrap_or(0)
}

/// Shard `shard` of a new account's inbox, open, with nothing made in it.
pub(in crate::store::dynamodb) fn inbox_item(user: UserId, shard: u32) -> Item {
    item([
        ("pk", s(inbox_pk(user, shard))),
        ("sk", s(INBOX)),
        (MADE, n(0)),
    ])
}

/// Counts a new transfer in shard `shard` of `to`'s inbox, if that shard is open ([`inbox_open`]).
pub(in crate::store::dynamodb) fn inbox_made(
    table: &str,
    to: UserId,
    shard: u32,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(inbox_pk(to, shard)))
                .key("sk", s(INBOX))
                .update_expression("ADD #made :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#made", MADE)
                .expression_attribute_values(":one", n(1))
                .build()
                .context("Failed to build an inbox count")?,
        )
        .build())
}

/// Opens shard `shard` of `to`'s inbox (with nothing made in it; an open one stays as it is),
/// on the condition that the account exists: the writes of the first transfer through that
/// shard to an account made before inboxes (a new account's are open from the start).
/// Closing the account deletes every shard on the condition of what it read.
pub(in crate::store::dynamodb) fn inbox_open(
    table: &str,
    to: UserId,
    shard: u32,
) -> anyhow::Result<[TransactWriteItem; 2]> {
    Ok([
        profile_check(table, to, "attribute_exists(pk)", None)?,
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(table)
                    .key("pk", s(inbox_pk(to, shard)))
                    .key("sk", s(INBOX))
                    .update_expression("SET #made = if_not_exists(#made, :zero)")
                    .expression_attribute_names("#made", MADE)
                    .expression_attribute_values(":zero", n(0))
                    .build()
                    .context("Failed to build an inbox opening")?,
            )
            .build(),
    ])
}

/// Counts a new transfer on an existing account's item ([`Counted::Profile`]), as versions
/// before inboxes did.
pub(in crate::store::dynamodb) fn pending_in_made(
    table: &str,
    to: UserId,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(user_pk(to)))
                .key("sk", s(PROFILE))
                .update_expression("SET #pending = if_not_exists(#pending, :zero) + :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#pending", PENDING_IN)
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .build()
                .context("Failed to build a pending count")?,
        )
        .build())
}

/// Counts transfers to an existing account as ended, without reading it (transfers that
/// ended without crediting it).
pub(in crate::store::dynamodb) fn recipient_ended(
    table: &str,
    user: UserId,
    ended: Ended,
) -> anyhow::Result<TransactWriteItem> {
    let (clauses, update) = ended.clauses(Update::builder());
    anyhow::ensure!(!clauses.is_empty(), "no transfer ended");
    Ok(TransactWriteItem::builder()
        .update(
            update
                .table_name(table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(PROFILE))
                .update_expression(format!("SET {}", clauses.join(", ")))
                .condition_expression("attribute_exists(pk)")
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

/// Moves an account from the version it was read at to the next, with its new balance: the
/// account's entry `entry`.
pub(in crate::store::dynamodb) fn balance_update(
    table: &str,
    entry: &LedgerEntry,
) -> anyhow::Result<TransactWriteItem> {
    balance_update_ending(table, entry.seq - 1, entry, Ended::default())
}

/// Moves an account from version `seen` to that of its entry `last` (the last of the entries
/// written with it), with that entry's balance, counting the transfers to it that `ended`.
pub(in crate::store::dynamodb) fn balance_update_ending(
    table: &str,
    seen: u64,
    last: &LedgerEntry,
    ended: Ended,
) -> anyhow::Result<TransactWriteItem> {
    let (clauses, update) = ended.clauses(Update::builder());
    let mut expression = "SET balance = :after, version = :next, updated_at = :now".to_string();
    for clause in clauses {
        expression.push_str(", ");
        expression.push_str(clause);
    }
    Ok(TransactWriteItem::builder()
        .update(
            update
                .table_name(table)
                .key("pk", s(user_pk(last.user_id)))
                .key("sk", s(PROFILE))
                .update_expression(expression)
                .condition_expression("version = :v")
                .expression_attribute_values(":after", n(last.balance_after))
                .expression_attribute_values(":next", n(last.seq))
                .expression_attribute_values(":now", n(last.created_at))
                .expression_attribute_values(":v", n(seen))
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
