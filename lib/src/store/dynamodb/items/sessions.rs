//! The session item (a refresh family): constructor, parser, revocation and liveness.

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use crate::domain::UserId;
use crate::store::{Session, SessionInfo};

use super::keys::{session_sk, user_pk};
use super::users::auth_epoch;
use super::{item, n, s, Attrs, Item};

pub(in crate::store::dynamodb) fn session_item(session: &Session) -> Item {
    let mut item = item([
        ("pk", s(user_pk(session.user_id))),
        ("sk", s(session_sk(&session.session_id))),
        ("refresh_jti", s(&session.refresh_jti)),
        ("revoked", AttributeValue::Bool(session.revoked)),
        ("expires_at", n(session.expires_at)),
        ("created_at", n(session.created_at)),
        ("last_used_at", n(session.created_at)),
        ("auth_epoch", n(session.auth_epoch)),
        ("mfa", AttributeValue::Bool(session.mfa)),
    ]);
    if let Some(agent) = &session.user_agent {
        item.insert("user_agent".to_string(), s(agent));
    }
    item
}

/// A family as its user sees it (families recorded before these attributes read as created
/// and last used at 0, from an unknown agent).
pub(in crate::store::dynamodb) fn parse_session_info(item: &Item) -> anyhow::Result<SessionInfo> {
    let a = Attrs(item);
    let sk = a.req_s("sk")?;
    Ok(SessionInfo {
        session_id: sk.strip_prefix("SESSION#").unwrap_or(&sk).to_string(),
        created_at: a.opt_num("created_at").unwrap_or(0),
        last_used_at: a.opt_num("last_used_at").unwrap_or(0),
        user_agent: a.opt_s("user_agent"),
        mfa: a.bool("mfa"),
    })
}

/// Marks a family revoked, if it still exists.
pub(in crate::store::dynamodb) fn session_revocation(
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
pub(in crate::store::dynamodb) fn session_active(
    item: &Item,
    now_secs: i64,
) -> anyhow::Result<bool> {
    let a = Attrs(item);
    Ok(!a.bool("revoked") && a.num::<i64>("expires_at")? > now_secs)
}

/// Whether a family can still be used at `now_secs`: active, and bound to the auth epoch its
/// account (`profile`, `None` when gone) is at.
pub(in crate::store::dynamodb) fn session_live(
    session: &Item,
    profile: Option<&Item>,
    now_secs: i64,
) -> anyhow::Result<bool> {
    Ok(
        profile.is_some_and(|p| auth_epoch(p) == auth_epoch(session))
            && session_active(session, now_secs)?,
    )
}
