//! Function `account`: the second factor, `POST|DELETE /mfa/totp` and `POST /mfa/totp/confirm`
//! (the second step of a login, `POST /login/mfa`, is the `login` function's).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::auth::Verified;
use super::client::Client;
use super::credentials::{parse_presented_secret, parse_secret_and_code, six_digits};
use super::error::ApiError;
use super::input::{Fields, JsonObject};
use super::layers::limited;
use super::response::Success;
use crate::service::mfa;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mfa/totp", limited(post(enrol).delete(disable)))
        .route("/mfa/totp/confirm", limited(post(confirm)))
}

/// `POST /mfa/totp` `{"password"|"pin": …}`: a new authenticator, pending until confirmed.
async fn enrol(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let secret = parse_presented_secret(&mut f, ["password", "pin"]);
    f.finish()?;
    let (kind, secret) =
        secret.ok_or_else(|| ApiError::bad_request("exactly one of password, pin is required"))?;
    let enrolment = mfa::enrol(&state, &caller, kind, &secret, &from).await?;
    Ok(Success::ok(json!({
        "secret": enrolment.secret,
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_svg": enrolment.qr_svg,
    }))
    .into_response())
}

/// `POST /mfa/totp/confirm` `{"code": "123456"}`: the factor becomes active; the recovery codes
/// are answered this once.
async fn confirm(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let code = f.required("code", six_digits);
    f.finish()?;
    let code = code.ok_or_else(|| ApiError::bad_request("code is required"))?;
    let codes = mfa::confirm(&state, &caller, &code, &from).await?;
    Ok(Success::ok(json!({ "recovery_codes": codes })).into_response())
}

/// `DELETE /mfa/totp` `{"password"|"pin": …, "otp"|"recovery_code": …}`: the factor and its
/// recovery codes are removed; every other login ends.
async fn disable(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let (kind, secret, second) = parse_secret_and_code(body)?;
    mfa::disable(&state, &caller, kind, &secret, second.as_ref(), &from).await?;
    Ok(Success::empty().into_response())
}
