//! The second-factor items of an account, beside its profile in its partition: `FACTOR` (the
//! sealed TOTP secret, whether it is active, the last accepted step) and `RECOVERY` (a string
//! set of the hashes of the recovery codes not yet used). Both are read in the request's first
//! `BatchGetItem` with the account; neither is written by a money write without a code, so
//! those stay one item of under 1 KB each.

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::domain::{Millis, UserId};
use crate::store::{CodeUse, Factor, FactorChange};

use super::keys::user_pk;
use super::{item, n, s, Action, Attrs, Item};

pub(in crate::store::dynamodb) const FACTOR: &str = "FACTOR";
pub(in crate::store::dynamodb) const RECOVERY: &str = "RECOVERY";

pub(in crate::store::dynamodb) fn parse_factor(item: &Item) -> anyhow::Result<Factor> {
    let a = Attrs(item);
    Ok(Factor {
        sealed_secret: a.req_s("secret")?,
        active: a.bool("active"),
        last_step: a.opt_num("last_step").unwrap_or(0),
        updated_at: a.opt_num("updated_at").unwrap_or(0),
    })
}

pub(in crate::store::dynamodb) fn parse_recovery_codes(item: &Item) -> Vec<String> {
    let mut codes = item
        .get("codes")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    codes.sort();
    codes
}

/// The pending authenticator's item (written on the condition that no active one exists).
pub(in crate::store::dynamodb) fn pending_factor_item(
    user: UserId,
    sealed_secret: &str,
    now: Millis,
) -> Item {
    item([
        ("pk", s(user_pk(user))),
        ("sk", s(FACTOR)),
        ("secret", s(sealed_secret)),
        ("active", AttributeValue::Bool(false)),
        ("last_step", n(0)),
        ("updated_at", n(now)),
    ])
}

fn update(
    table: &str,
    user: UserId,
    sk: &str,
    expression: &str,
    condition: &str,
    values: Vec<(&str, AttributeValue)>,
) -> anyhow::Result<TransactWriteItem> {
    let mut builder = Update::builder()
        .table_name(table)
        .key("pk", s(user_pk(user)))
        .key("sk", s(sk))
        .update_expression(expression)
        .condition_expression(condition)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    for (name, value) in values {
        builder = builder.expression_attribute_values(name, value);
    }
    Ok(TransactWriteItem::builder()
        .update(builder.build().context("Failed to build a factor update")?)
        .build())
}

fn delete(
    table: &str,
    user: UserId,
    sk: &str,
    condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
) -> anyhow::Result<TransactWriteItem> {
    let mut builder = Delete::builder()
        .table_name(table)
        .key("pk", s(user_pk(user)))
        .key("sk", s(sk));
    if let Some((expression, values)) = condition {
        builder = builder.condition_expression(expression);
        for (name, value) in values {
            builder = builder.expression_attribute_values(name, value);
        }
    }
    Ok(TransactWriteItem::builder()
        .delete(builder.build().context("Failed to build a factor delete")?)
        .build())
}

/// The write that uses `code` up, on the condition that it is unused and the factor active.
pub(in crate::store::dynamodb) fn code_use(
    table: &str,
    user: UserId,
    code: &CodeUse,
) -> anyhow::Result<(Action, TransactWriteItem)> {
    Ok(match code {
        CodeUse::Totp { step } => (
            Action::Factor,
            update(
                table,
                user,
                FACTOR,
                "SET last_step = :step",
                "active = :true AND last_step < :step",
                vec![(":step", n(step)), (":true", AttributeValue::Bool(true))],
            )?,
        ),
        CodeUse::Recovery { hash } => (
            Action::Recovery,
            update(
                table,
                user,
                RECOVERY,
                "DELETE codes :used",
                "contains(codes, :hash)",
                vec![
                    (":used", AttributeValue::Ss(vec![hash.clone()])),
                    (":hash", s(hash)),
                ],
            )?,
        ),
    })
}

/// The writes removing the account's factor and recovery codes (whatever there is).
pub(in crate::store::dynamodb) fn factor_removal(
    table: &str,
    user: UserId,
) -> anyhow::Result<Vec<(Action, TransactWriteItem)>> {
    Ok(vec![
        (Action::Factor, delete(table, user, FACTOR, None)?),
        (Action::Recovery, delete(table, user, RECOVERY, None)?),
    ])
}

/// The writes of `change`, each conditional as the change requires.
pub(in crate::store::dynamodb) fn factor_change(
    table: &str,
    user: UserId,
    change: &FactorChange,
    now: Millis,
) -> anyhow::Result<Vec<(Action, TransactWriteItem)>> {
    match change {
        FactorChange::Use(code) => Ok(vec![code_use(table, user, code)?]),
        FactorChange::Activate {
            sealed_secret,
            step,
            recovery,
        } => {
            let activate = update(
                table,
                user,
                FACTOR,
                "SET active = :true, last_step = :step, updated_at = :now",
                "active = :false AND secret = :secret AND last_step < :step",
                vec![
                    (":true", AttributeValue::Bool(true)),
                    (":false", AttributeValue::Bool(false)),
                    (":step", n(step)),
                    (":now", n(now)),
                    (":secret", s(sealed_secret)),
                ],
            )?;
            let codes = Put::builder()
                .table_name(table)
                .set_item(Some(item([
                    ("pk", s(user_pk(user))),
                    ("sk", s(RECOVERY)),
                    ("codes", AttributeValue::Ss(recovery.clone())),
                ])))
                .build()
                .context("Failed to build the recovery codes")?;
            Ok(vec![
                (Action::Factor, activate),
                (
                    Action::Recovery,
                    TransactWriteItem::builder().put(codes).build(),
                ),
            ])
        }
        FactorChange::Remove(None) => factor_removal(table, user),
        FactorChange::Remove(Some(CodeUse::Totp { step })) => Ok(vec![
            (
                Action::Factor,
                delete(
                    table,
                    user,
                    FACTOR,
                    Some((
                        "active = :true AND last_step < :step",
                        vec![(":true", AttributeValue::Bool(true)), (":step", n(step))],
                    )),
                )?,
            ),
            (Action::Recovery, delete(table, user, RECOVERY, None)?),
        ]),
        FactorChange::Remove(Some(CodeUse::Recovery { hash })) => Ok(vec![
            (
                Action::Factor,
                delete(
                    table,
                    user,
                    FACTOR,
                    Some((
                        "active = :true",
                        vec![(":true", AttributeValue::Bool(true))],
                    )),
                )?,
            ),
            (
                Action::Recovery,
                delete(
                    table,
                    user,
                    RECOVERY,
                    Some(("contains(codes, :hash)", vec![(":hash", s(hash))])),
                )?,
            ),
        ]),
    }
}
