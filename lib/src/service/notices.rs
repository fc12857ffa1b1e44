//! Security notifications: what the account's owner is told when its sign-in details change
//! (api.md, "Security notifications"). They go through the same delivery port as reset codes,
//! never fail the request that caused them, and carry no secret.

use crate::delivery::{Channel, Message};
use crate::domain::{format_timestamp, now_millis, IdentifierKind};
use crate::state::AppState;
use crate::store::UserRecord;

/// Tells the old address or number of an email or phone number that it no longer names the
/// account (`before` and `after` are the account around the change). A username change, or
/// an identifier set where there was none, tells nobody.
#[tracing::instrument(skip_all)]
pub async fn identifier_changed(
    state: &AppState,
    before: &UserRecord,
    after: &UserRecord,
    kind: IdentifierKind,
) {
    let (channel, field) = match kind {
        IdentifierKind::Username => return,
        IdentifierKind::Email => (Channel::Email, "email"),
        IdentifierKind::Phone => (Channel::Sms, "phone_number"),
    };
    let (Some(old), new) = (before.identifier(kind), after.identifier(kind)) else {
        return;
    };
    if Some(old) == new.as_ref() {
        return;
    }
    send(
        state,
        "identifier_changed",
        before,
        channel,
        old.clone(),
        Some(field),
    )
    .await;
}

/// Tells the account's email, else its phone, that its secret changed (a change or a reset).
#[tracing::instrument(skip_all)]
pub async fn secret_changed(state: &AppState, user: &UserRecord) {
    if let Some((channel, to)) = destination(user, IdentifierKind::Email) {
        send(state, "secret_changed", user, channel, to, None).await;
    }
}

/// Tells the account's email, else its phone, about its second factor: `mfa_enabled`,
/// `mfa_disabled`, or `mfa_code_failures` (wrong codes after the right secret: someone has it).
#[tracing::instrument(skip_all)]
pub async fn second_factor(state: &AppState, user: &UserRecord, kind: &'static str) {
    if let Some((channel, to)) = destination(user, IdentifierKind::Email) {
        send(state, kind, user, channel, to, None).await;
    }
}

/// Where a message for an account goes: the identifier `asked` when it is an email or phone
/// the account has, else the email, else the phone (reset codes go where they were asked by).
pub(crate) fn destination(user: &UserRecord, asked: IdentifierKind) -> Option<(Channel, String)> {
    let email = user.email.clone().map(|e| (Channel::Email, e));
    let phone = user.phone_number.clone().map(|p| (Channel::Sms, p));
    match asked {
        IdentifierKind::Phone => phone.or(email),
        _ => email.or(phone),
    }
}

async fn send(
    state: &AppState,
    kind: &'static str,
    user: &UserRecord,
    channel: Channel,
    to: String,
    field: Option<&'static str>,
) {
    let message = Message {
        kind,
        user_id: user.user_id.to_string(),
        channel,
        to,
        code: None,
        field,
        created_date: format_timestamp(now_millis()),
    };
    if let Err(e) = state.delivery().deliver(&message).await {
        tracing::error!(user = %user.user_id, kind, error = ?e, "security notification not delivered");
    }
}
