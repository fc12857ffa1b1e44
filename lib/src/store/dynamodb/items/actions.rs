//! Generic write actions (conditional puts and deletes), the test for a refused single-item
//! write, and the named actions of a transaction (so a cancellation reason is read by what it
//! cancelled, not by position).

use anyhow::Context;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use crate::domain::IdentifierKind;

use super::{s, Item};

/// Puts `item` on the condition that no item has its key yet.
pub(in crate::store::dynamodb) fn put_new(
    table: &str,
    item: Item,
) -> anyhow::Result<TransactWriteItem> {
    put(table, item, "attribute_not_exists(pk)", None)
}

pub(in crate::store::dynamodb) fn put(
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

pub(in crate::store::dynamodb) fn delete(
    table: &str,
    pk: String,
    sk: &str,
) -> anyhow::Result<TransactWriteItem> {
    delete_if(table, pk, sk, None)
}

/// Deletes an item on `condition` (an expression and its values), if given.
pub(in crate::store::dynamodb) fn delete_if(
    table: &str,
    pk: String,
    sk: &str,
    condition: Option<(&str, Item)>,
) -> anyhow::Result<TransactWriteItem> {
    let (expression, values) = condition.unzip();
    // An expression without values (`attribute_not_exists(pk)`) sends none: DynamoDB refuses
    // an empty map.
    let values = values.filter(|v| !v.is_empty());
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

/// True when a single-item write was refused by its condition expression.
pub(in crate::store::dynamodb) fn condition_failed<E: ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

// Transactions with named actions.

/// What one write of a transaction does, to read its cancellation reason by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store::dynamodb) enum Action {
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
    /// The recipient of a new transfer must exist (its inbox, or its account).
    Recipient,
    /// A shard of an account's inbox (the count of the transfers made to it).
    Inbox,
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
    /// An account's second factor (its authenticator).
    Factor,
    /// An account's recovery codes.
    Recovery,
}

/// The writes of one `TransactWriteItems`, each named by its action.
#[derive(Default)]
pub(in crate::store::dynamodb) struct Transaction {
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
pub(in crate::store::dynamodb) struct Cancelled(Vec<(Action, String, Option<Item>)>);

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
