//! Function `register`: `POST /register`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::credentials::parse_new_secret;
use super::error::ApiError;
use super::input::{Fields, JsonOrForm};
use super::layers::limited;
use super::response::Success;
use super::views::RegisteredView;
use crate::domain::{Email, Phone, Username};
use crate::service::accounts::{self, Registration};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/register", limited(post(register)))
}

fn parse_registration(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Registration, ApiError> {
    let mut f = Fields::new(body);
    let username = f.parse("username", Username::parse);
    let email = f.parse("email", Email::parse);
    let phone_number = f.parse("phone_number", Phone::parse);
    if !(f.given("username") || f.given("email") || f.given("phone_number")) {
        f.error(
            "_",
            "at least one of username, email, phone_number is required",
        );
    }
    let secret = parse_new_secret(&mut f);
    let first_name = f.optional_text("first_name", 100);
    let last_name = f.optional_text("last_name", 100);
    let address = f.optional_text("address", 300);
    f.finish()?;
    let secret =
        secret.ok_or_else(|| ApiError::bad_request("exactly one of password, pin is required"))?;
    Ok(Registration {
        username,
        email,
        phone_number,
        secret,
        first_name,
        last_name,
        address,
    })
}

async fn register(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm,
) -> Result<Response, ApiError> {
    let registration = parse_registration(body)?;
    let user = accounts::register(&state, registration).await?;
    Ok(Success::created(RegisteredView::from(&user)).into_response())
}
