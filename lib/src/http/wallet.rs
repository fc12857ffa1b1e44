//! Wallet routes: top up, pay, transfer, transfer status, transactions, profile.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::json;

use super::auth::{Authenticated, Verified};
use super::client::Client;
use super::credentials::parse_second_factor;
use super::error::ApiError;
use super::input::{Fields, JsonObject};
use super::layers::limited;
use super::paging::parse_page;
use super::response::{List, Success};
use super::views::{
    LedgerEntryView, PaymentView, ProfileView, TopUpView, TransferSentView, TransferView,
};
use crate::domain::{IdempotencyKey, OptionalText};
use crate::service::wallet::{self, Applied, Idempotency, Recipient, StepUp};
use crate::state::AppState;
use crate::store::ProfileChanges;

pub(super) fn topup_routes() -> Router<AppState> {
    Router::new().route("/topup", limited(post(topup)))
}

pub(super) fn pay_routes() -> Router<AppState> {
    Router::new().route("/pay", limited(post(pay)))
}

pub(super) fn transfer_routes() -> Router<AppState> {
    Router::new()
        .route("/transfer", limited(post(transfer)))
        .route("/transfer/{transfer_id}", limited(get(transfer_status)))
}

pub(super) fn transactions_routes() -> Router<AppState> {
    Router::new().route("/transactions", limited(get(transactions)))
}

pub(super) fn profile_routes() -> Router<AppState> {
    Router::new().route("/profile", limited(put(profile)))
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Reads the optional `Idempotency-Key`; a bad one is recorded with the body's errors.
fn idempotency_key(headers: &HeaderMap, f: &mut Fields) -> Option<IdempotencyKey> {
    let raw = headers.get(IDEMPOTENCY_HEADER)?;
    match raw
        .to_str()
        .map_err(|_| "must be printable ASCII".to_string())
        .and_then(IdempotencyKey::parse)
    {
        Ok(k) => Some(k),
        Err(message) => {
            f.error(IDEMPOTENCY_HEADER, message);
            None
        }
    }
}

fn remarks(f: &mut Fields) -> String {
    f.optional_text("remarks", 200).unwrap_or_default()
}

async fn topup(
    State(state): State<AppState>,
    Verified(caller): Verified,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let key = idempotency_key(&headers, &mut f);
    let amount = f.amount("amount");
    f.finish()?;
    let amount = amount.ok_or_else(|| ApiError::bad_request("amount is required"))?;
    let idem = key.map(|k| Idempotency::new(k, &json!({"amount": amount.get()})));
    let Applied { entry, .. } = wallet::top_up(&state, &caller, amount, idem).await?;
    Ok(Success::ok(TopUpView::from(&entry)).into_response())
}

async fn pay(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let key = idempotency_key(&headers, &mut f);
    let amount = f.amount("amount");
    let remarks = remarks(&mut f);
    // Not part of what an Idempotency-Key compares: a retry answers as recorded without one.
    let presented = parse_second_factor(&mut f);
    f.finish()?;
    let step_up = StepUp { presented, from };
    let amount = amount.ok_or_else(|| ApiError::bad_request("amount is required"))?;
    let idem =
        key.map(|k| Idempotency::new(k, &json!({"amount": amount.get(), "remarks": remarks})));
    let Applied { entry, .. } =
        wallet::pay(&state, &caller, amount, remarks, idem, &step_up).await?;
    Ok(Success::ok(PaymentView::from(&entry)).into_response())
}

async fn transfer(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let key = idempotency_key(&headers, &mut f);
    let recipient = f.required("target_user", Recipient::parse);
    let amount = f.amount("amount");
    let remarks = remarks(&mut f);
    let presented = parse_second_factor(&mut f);
    f.finish()?;
    let step_up = StepUp { presented, from };
    let (recipient, amount) = recipient
        .zip(amount)
        .ok_or_else(|| ApiError::bad_request("target_user and amount are required"))?;
    let idem = key.map(|k| {
        Idempotency::new(
            k,
            &json!({"target_user": recipient.canonical(), "amount": amount.get(), "remarks": remarks}),
        )
    });
    let Applied { entry, .. } =
        wallet::transfer(&state, &caller, &recipient, amount, remarks, idem, &step_up).await?;
    Ok(Success::accepted(TransferSentView::from(&entry)).into_response())
}

/// `GET /transfer/{transfer_id}`: a transfer of the caller's (sent or received); any other id
/// is 404.
async fn transfer_status(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id.ok().map(|Path(id)| id);
    let t = wallet::transfer_for(&state, &caller, id.as_deref()).await?;
    Ok(Success::ok(TransferView::from(&t)).into_response())
}

/// `GET /transactions`: the caller's ledger, newest first.
async fn transactions(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (page, _) = parse_page(query.as_deref(), &[])?;
    let entries = wallet::transactions(&state, &caller, &page).await?;
    Ok(List::of(&entries, LedgerEntryView::from).into_response())
}

async fn profile(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let empty = f.is_empty();
    f.forbid(
        &[
            "username",
            "email",
            "phone_number",
            "password",
            "pin",
            "balance",
            "user_id",
            "role",
        ],
        "cannot be changed here",
    );
    let mut changes = ProfileChanges::default();
    for (name, max, slot) in [
        ("first_name", 100, &mut changes.first_name),
        ("last_name", 100, &mut changes.last_name),
        ("address", 300, &mut changes.address),
    ] {
        let present = f.map_has(name);
        if let Some(text) = f.parse(name, |s| OptionalText::parse(s, max)) {
            *slot = Some(text.0);
        } else if present && !f.given(name) {
            *slot = Some(None); // null clears the field
        }
    }
    if empty {
        f.error("_", "give at least one of first_name, last_name, address");
    }
    f.finish()?;
    let user = wallet::update_profile(&state, &who, &changes).await?;
    Ok(Success::ok(ProfileView::from(&user)).into_response())
}
