//! Every item kind's key, constructor and parser, the write actions built from them, and the
//! named actions of a transaction (so a cancellation reason is read by what it cancelled, not
//! by position).
//!
//! This module holds what every kind shares: the [`Item`] type, the attribute builders [`s`],
//! [`n`], [`item`] and [`ttl_seconds`], and the typed reads of [`Attrs`]. The rest is split by
//! item kind, each file holding a kind's constructor, parser and kind-specific writes:
//!
//! - `keys`: every partition and sort key, the `pending` index shards and the index keys;
//! - `users`: the user item (profile), its auth epoch, balance and counts of transfers to it
//!   (with the shards of its inbox), and the identifier guard item;
//! - `sessions`: the session item (refresh family), its revocation and liveness;
//! - `throttle`: the login throttle item and its writes;
//! - `ledger`: the ledger entry and idempotency record items;
//! - `transfers`: the transfer item, its order key and settlement;
//! - `entities`: the entity item and its code reservation;
//! - `factors`: the second factor's items (the authenticator and the recovery codes);
//! - `actions`: generic puts and deletes, and the named actions of a [`Transaction`].
//!
//! Everything is re-exported here, so the rest of the store names it `items::...`.

mod actions;
mod entities;
mod factors;
mod keys;
mod ledger;
mod sessions;
mod throttle;
mod transfers;
mod users;

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::Millis;

pub(in crate::store::dynamodb) use actions::*;
pub(in crate::store::dynamodb) use entities::*;
pub(in crate::store::dynamodb) use factors::*;
pub(in crate::store::dynamodb) use keys::*;
pub(in crate::store::dynamodb) use ledger::*;
pub(in crate::store::dynamodb) use sessions::*;
pub(in crate::store::dynamodb) use throttle::*;
pub(in crate::store::dynamodb) use transfers::*;
pub(in crate::store::dynamodb) use users::*;

pub(super) type Item = HashMap<String, AttributeValue>;

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

    /// An id ([`UserId`](crate::domain::UserId), [`EntityId`](crate::domain::EntityId)) kept
    /// as its text.
    fn id<T: std::str::FromStr<Err = String>>(&self, name: &str) -> anyhow::Result<T> {
        let id = self.req_s(name)?;
        id.parse()
            .map_err(|e| anyhow::anyhow!("bad {name} {id}: {e}"))
    }
}
