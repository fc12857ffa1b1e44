//! The ledger entry and idempotency record items: constructors, parsers and their writes.

use anyhow::Context;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use crate::domain::{Millis, UserId};
use crate::store::{EntryKind, IdempotencyClaim, IdempotencyRecord, LedgerEntry, TxStatus};

use super::actions::put;
use super::keys::{entry_sk, idem_sk, user_pk};
use super::{item, n, s, ttl_seconds, Attrs, Item};

pub(in crate::store::dynamodb) fn entry_item(e: &LedgerEntry) -> Item {
    item([
        ("pk", s(user_pk(e.user_id))),
        ("sk", s(entry_sk(e.seq))),
        ("user_id", s(e.user_id.to_string())),
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

pub(in crate::store::dynamodb) fn parse_entry(item: &Item) -> anyhow::Result<LedgerEntry> {
    let a = Attrs(item);
    Ok(LedgerEntry {
        user_id: a.id("user_id")?,
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

pub(in crate::store::dynamodb) fn entry_status_update(
    table: &str,
    user: UserId,
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

pub(in crate::store::dynamodb) fn idempotency_item(
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
pub(in crate::store::dynamodb) fn parse_idempotency(
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

/// Puts an idempotency record unless a live one holds the key.
pub(in crate::store::dynamodb) fn put_idempotency(
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
