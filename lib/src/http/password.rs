//! Function `password`: `POST /password/forgot`, `/password/reset` (the one that delivers
//! codes).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::client::Client;
use super::credentials::{parse_new_secret, parse_one_identifier};
use super::error::ApiError;
use super::input::{Fields, JsonObject};
use super::layers::limited;
use super::response::Success;
use crate::service::resets;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/password/forgot", limited(post(forgot_password)))
        .route("/password/reset", limited(post(reset_password)))
}

/// `POST /password/forgot` `{"username"|"email"|"phone_number": …}`: always 202, whether or
/// not an account has the identifier; when one does, a code is delivered to its email or phone.
async fn forgot_password(
    State(state): State<AppState>,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    f.finish()?;
    let identifier = identifier.ok_or_else(|| {
        ApiError::bad_request("exactly one of username, email, phone_number is required")
    })?;
    resets::forgot(&state, &identifier, &from).await?;
    Ok(Success::accepted(()).into_response())
}

/// `POST /password/reset` `{identifier, "code": "123456", "password"|"pin": …}`: a new secret
/// for a live code; every login of the account ends. A wrong, expired or used code is 400
/// `INVALID_CODE`.
async fn reset_password(
    State(state): State<AppState>,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    let code = f.parse("code", |s| {
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.to_string())
        } else {
            Err("must be the 6 digits that were sent".to_string())
        }
    });
    if !f.given("code") {
        f.error("code", "is required");
    }
    let secret = parse_new_secret(&mut f);
    f.finish()?;
    let (Some(identifier), Some(code), Some(secret)) = (identifier, code, secret) else {
        return Err(ApiError::bad_request(
            "an identifier, the code and a new secret are required",
        ));
    };
    resets::reset(&state, &identifier, &code, &secret, &from).await?;
    Ok(Success::empty().into_response())
}
