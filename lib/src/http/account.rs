//! Function `account`: `GET|DELETE /account`, `PUT /account/{username,email,phone_number,
//! secret}`, `GET /users/lookup` (and the pictures' routes, in `pictures.rs`).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;

use super::auth::Verified;
use super::client::Client;
use super::credentials::{
    parse_new_secret, parse_presented_secret, parse_second_factor, parse_secret_and_code,
};
use super::error::{ApiError, FieldErrors};
use super::input::{Fields, JsonObject};
use super::layers::limited;
use super::response::Success;
use super::views::{AccountView, RecipientView};
use crate::domain::{Email, IdentifierKind, Phone, Username};
use crate::service::accounts::{self, IdentifierUpdate, SecretUpdate};
use crate::service::wallet::Recipient;
use crate::state::AppState;
use crate::store::UserRecord;

pub(super) fn routes() -> Router<AppState> {
    let identifier = |kind: IdentifierKind| {
        limited(put(move |s, c, from, b| {
            change_identifier(s, c, from, b, kind)
        }))
    };
    Router::new()
        .route("/account", limited(get(account).delete(close_account)))
        .route("/account/username", identifier(IdentifierKind::Username))
        .route("/account/email", identifier(IdentifierKind::Email))
        .route("/account/phone_number", identifier(IdentifierKind::Phone))
        .route("/account/secret", limited(put(change_secret)))
        .route("/users/lookup", limited(get(lookup)))
}

/// The account as `GET /account` answers it.
fn account_response(user: &UserRecord, mfa: bool) -> Response {
    Success::ok(AccountView::new(user, mfa))
        .with_message("akses sukses")
        .into_response()
}

async fn account(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    let (user, mfa) = accounts::account(&state, &caller).await?;
    Ok(account_response(&user, mfa))
}

/// `PUT /account/username`, `/account/email`, `/account/phone_number`: `{"<field>": "new",
/// "current_password"|"current_pin": …}` sets the identifier under registration's rules,
/// `{"<field>": null, …}` removes it (one must remain); a wrong current secret is 401 and
/// counts toward the lockout. Answers the account as `GET /account` does.
async fn change_identifier(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
    kind: IdentifierKind,
) -> Result<Response, ApiError> {
    let field = kind.field();
    let mut f = Fields::new(body);
    let present = f.map_has(field);
    let value = match kind {
        IdentifierKind::Username => f
            .parse(field, Username::parse)
            .map(|v| v.as_str().to_string()),
        IdentifierKind::Email => f.parse(field, Email::parse).map(|v| v.as_str().to_string()),
        IdentifierKind::Phone => f.parse(field, Phone::parse).map(|v| v.as_str().to_string()),
    };
    if !present {
        f.error(field, "is required (null removes it)");
    }
    let current = parse_presented_secret(&mut f, ["current_password", "current_pin"]);
    let second = parse_second_factor(&mut f);
    f.finish()?;
    let Some((current_kind, current)) = current else {
        return Err(ApiError::bad_request(
            "the current password or PIN is required",
        ));
    };
    let update = IdentifierUpdate {
        kind,
        value,
        current_kind,
        current,
        second,
    };
    let (user, mfa) = accounts::change_identifier(&state, &caller, update, &from).await?;
    Ok(account_response(&user, mfa))
}

/// `PUT /account/secret` `{"current_password"|"current_pin": …, "password"|"pin": …}`: a wrong
/// current secret is 401 and counts toward the lockout; success revokes every other login.
async fn change_secret(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let current = parse_presented_secret(&mut f, ["current_password", "current_pin"]);
    let new = parse_new_secret(&mut f);
    let second = parse_second_factor(&mut f);
    f.finish()?;
    let (Some((current_kind, current)), Some(new)) = (current, new) else {
        return Err(ApiError::bad_request(
            "a current secret and a new one are required",
        ));
    };
    let update = SecretUpdate {
        current_kind,
        current,
        new,
        second,
    };
    accounts::change_secret(&state, &caller, update, &from).await?;
    Ok(Success::empty().into_response())
}

/// `DELETE /account` `{"password"|"pin": …}`: closes the caller's account (balance 0, no
/// pending transfer); its identifiers are free at once and every login ends.
async fn close_account(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let (kind, secret, second) = parse_secret_and_code(body)?;
    accounts::close_account(&state, &caller, kind, &secret, second.as_ref(), &from).await?;
    Ok(Success::empty().into_response())
}

/// `GET /users/lookup?target=<user id, username or phone>`: whom a transfer would reach.
async fn lookup(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|_| ApiError::bad_request("The query string is malformed"))?;
    let mut errors = FieldErrors::new();
    let mut target = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "target" if target.is_some() => errors
                .entry(name.clone())
                .or_default()
                .push("must be given once".into()),
            "target" => match Recipient::parse(value) {
                Ok(t) => target = Some(t),
                Err(message) => errors.entry(name.clone()).or_default().push(message),
            },
            _ => errors
                .entry(name.clone())
                .or_default()
                .push("is not a recognised parameter".into()),
        }
    }
    if target.is_none() && !errors.contains_key("target") {
        errors
            .entry("target".into())
            .or_default()
            .push("is required".into());
    }
    let Some(target) = target.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let user = accounts::lookup(&state, &caller, &target).await?;
    Ok(Success::ok(RecipientView::from(&user)).into_response())
}
