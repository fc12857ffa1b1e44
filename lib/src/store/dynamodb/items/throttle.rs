//! The login throttle item: constructor, parser and its conditional writes.

use anyhow::Context;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use crate::auth::Throttle;
use crate::domain::Millis;
use crate::store::{first_version, ThrottleRelease, ThrottleWrite, Versioned};

use super::actions::put;
use super::keys::{throttle_pk, THROTTLE};
use super::{item, n, s, ttl_seconds, Attrs, Item};

pub(in crate::store::dynamodb) fn throttle_item(
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
pub(in crate::store::dynamodb) fn parse_throttle(
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

/// Writes a throttle record if it is still at the version it was read at (or, read as absent,
/// has no live item).
pub(in crate::store::dynamodb) fn throttle_put(
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
pub(in crate::store::dynamodb) fn throttle_release(
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
