//! The transfer item: constructor, order key, parser and settlement.

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use crate::domain::Millis;
use crate::store::{Transfer, TxStatus};

use super::keys::{pending_shard, status_key, transfer_pk, TRANSFER};
use super::{item, n, s, Attrs, Item};

/// A transfer whose debit is the sender's entry `sender_seq`, as it is stored in its status:
/// while `PENDING` it is in the sparse `pending` index; settled, it has left the index and
/// carries `settled_at` and `suspense` (as [`transfer_settlement`] leaves it).
pub(in crate::store::dynamodb) fn transfer_item(t: &Transfer, sender_seq: u64) -> Item {
    let mut item = item([
        ("pk", s(transfer_pk(&t.transfer_id))),
        ("sk", s(TRANSFER)),
        ("transfer_id", s(&t.transfer_id)),
        ("from_user", s(t.from_user.to_string())),
        ("to_user", s(t.to_user.to_string())),
        ("amount", n(t.amount)),
        ("remarks", s(&t.remarks)),
        ("status", s(t.status.as_str())),
        ("created_at", n(t.created_at)),
        ("sender_seq", n(sender_seq)),
        ("transfer_status", s(status_key(t.status, &t.transfer_id))),
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
pub(in crate::store::dynamodb) fn transfer_order(created_at: Millis, transfer_id: &str) -> String {
    format!("{created_at:020}#{transfer_id}")
}

/// The transfer and the sequence number of the sender's entry.
pub(in crate::store::dynamodb) fn parse_transfer(item: &Item) -> anyhow::Result<(Transfer, u64)> {
    let a = Attrs(item);
    Ok((
        Transfer {
            transfer_id: a.req_s("transfer_id")?,
            from_user: a.id("from_user")?,
            to_user: a.id("to_user")?,
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

/// Marks a `PENDING` transfer settled with `status` (and `suspense`), taking it out of the
/// `pending` index; conditional on it still being `PENDING`.
pub(in crate::store::dynamodb) fn transfer_settlement(
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
                    "SET #status = :final, transfer_status = :listed, settled_at = :now, \
                     suspense = :suspense REMOVE pending_shard, pending_since",
                )
                .condition_expression("#status = :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":final", s(status.as_str()))
                .expression_attribute_values(":listed", s(status_key(status, transfer_id)))
                .expression_attribute_values(":pending", s(TxStatus::Pending.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":suspense", AttributeValue::Bool(suspense))
                .build()
                .context("Failed to build the transfer update")?,
        )
        .build())
}
