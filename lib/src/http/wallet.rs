//! Wallet routes: top up, pay, transfer, transfer status, transactions, profile.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, FieldErrors};
use super::identity::success;
use super::input::{Fields, JsonObject};
use super::{limited, Authenticated, Verified};
use crate::domain::{format_timestamp, IdempotencyKey, OptionalText, UserId};
use crate::service::wallet::{self, Applied, Idempotency, Recipient, WalletError};
use crate::state::AppState;
use crate::store::{EntryKind, LedgerEntry, ProfileChanges};

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

fn wallet_error(e: WalletError) -> ApiError {
    let message = e.to_string();
    match e {
        WalletError::InsufficientBalance => {
            ApiError::new(StatusCode::BAD_REQUEST, "INSUFFICIENT_BALANCE", message)
        }
        WalletError::RecipientNotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", message)
        }
        WalletError::SelfTransfer => {
            ApiError::new(StatusCode::BAD_REQUEST, "SELF_TRANSFER", message)
        }
        WalletError::KeyReused => {
            ApiError::new(StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED", message)
        }
        WalletError::Contention => {
            ApiError::new(StatusCode::CONFLICT, "CONCURRENT_UPDATE", message)
        }
        WalletError::BalanceOverflow => {
            ApiError::validation(FieldErrors::from([("amount".to_string(), vec![message])]))
        }
        WalletError::AccountUnavailable | WalletError::Unauthenticated => {
            ApiError::unauthenticated()
        }
        WalletError::Unexpected(e) => ApiError::internal(&e),
    }
}

/// The id field of an entry, named by what made it.
fn id_field(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::TopUp => "top_up_id",
        EntryKind::Payment => "payment_id",
        EntryKind::TransferOut | EntryKind::TransferIn | EntryKind::Refund => "transfer_id",
    }
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
    let Applied { entry, .. } = wallet::top_up(&state, &caller, amount, idem)
        .await
        .map_err(wallet_error)?;
    Ok(success(
        StatusCode::OK,
        json!({
            "top_up_id": entry.reference_id,
            "amount_top_up": entry.amount,
            "balance_before": entry.balance_before,
            "balance_after": entry.balance_after,
            "created_date": format_timestamp(entry.created_at),
        }),
    ))
}

async fn pay(
    State(state): State<AppState>,
    Verified(caller): Verified,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let key = idempotency_key(&headers, &mut f);
    let amount = f.amount("amount");
    let remarks = remarks(&mut f);
    f.finish()?;
    let amount = amount.ok_or_else(|| ApiError::bad_request("amount is required"))?;
    let idem =
        key.map(|k| Idempotency::new(k, &json!({"amount": amount.get(), "remarks": remarks})));
    let Applied { entry, .. } = wallet::pay(&state, &caller, amount, remarks, idem)
        .await
        .map_err(wallet_error)?;
    Ok(success(
        StatusCode::OK,
        json!({
            "payment_id": entry.reference_id,
            "amount": entry.amount,
            "remarks": entry.remarks,
            "balance_before": entry.balance_before,
            "balance_after": entry.balance_after,
            "created_date": format_timestamp(entry.created_at),
        }),
    ))
}

async fn transfer(
    State(state): State<AppState>,
    Verified(caller): Verified,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let key = idempotency_key(&headers, &mut f);
    let recipient = f.required("target_user", Recipient::parse);
    let amount = f.amount("amount");
    let remarks = remarks(&mut f);
    f.finish()?;
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
        wallet::transfer(&state, &caller, &recipient, amount, remarks, idem)
            .await
            .map_err(wallet_error)?;
    Ok(success(
        StatusCode::ACCEPTED,
        json!({
            "transfer_id": entry.reference_id,
            "amount": entry.amount,
            "remarks": entry.remarks,
            "balance_before": entry.balance_before,
            "balance_after": entry.balance_after,
            "transfer_status": entry.status.as_str(),
            "created_date": format_timestamp(entry.created_at),
        }),
    ))
}

async fn transfer_status(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    // A path id that is not a UUID, like another user's transfer, does not exist.
    let Some(id) = id
        .ok()
        .and_then(|Path(id)| UserId::parse(&id).ok().map(|_| id))
    else {
        caller.check(&state).await?;
        return Err(ApiError::not_found());
    };
    let t = wallet::transfer_for(&state, &caller, &id)
        .await
        .map_err(wallet_error)?
        .ok_or_else(ApiError::not_found)?;
    Ok(success(StatusCode::OK, transfer_json(&t)))
}

/// A transfer as `GET /transfer/{id}` and operators see it.
pub(super) fn transfer_json(t: &crate::store::Transfer) -> Value {
    json!({
        "transfer_id": t.transfer_id,
        "from_user": t.from_user,
        "to_user": t.to_user,
        "amount": t.amount,
        "remarks": t.remarks,
        "transfer_status": t.status.as_str(),
        "created_date": format_timestamp(t.created_at),
        "settled_date": t.settled_at.map(format_timestamp),
    })
}

/// `?limit=&cursor=`; anything else in the query is 400.
pub(super) struct Page {
    pub limit: usize,
    pub cursor: Option<String>,
}

pub(super) fn parse_page(
    query: Option<&str>,
    other: &[&'static str],
) -> Result<(Page, Vec<(String, String)>), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::bad_request("The query string is malformed"))?;
    let mut errors = super::error::FieldErrors::new();
    let mut page = Page {
        limit: 20,
        cursor: None,
    };
    let mut rest = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            errors
                .entry(k)
                .or_default()
                .push("must be given once".into());
            continue;
        }
        match k.as_str() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => page.limit = n,
                _ => errors
                    .entry(k)
                    .or_default()
                    .push("must be a whole number from 1 to 100".into()),
            },
            "cursor" if !v.is_empty() => page.cursor = Some(v),
            "cursor" => {}
            name if other.contains(&name) => rest.push((k, v)),
            _ => errors
                .entry(k)
                .or_default()
                .push("is not a recognised parameter".into()),
        }
    }
    if errors.is_empty() {
        Ok((page, rest))
    } else {
        Err(ApiError::validation(errors))
    }
}

pub(super) fn invalid_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_CURSOR",
        "The cursor is not valid for this listing",
    )
}

fn entry_json(e: &LedgerEntry) -> Value {
    let mut v = json!({
        "status": e.status.as_str(),
        "user_id": e.user_id,
        "transaction_type": if e.kind.is_credit() { "CREDIT" } else { "DEBIT" },
        "amount": e.amount,
        "remarks": e.remarks,
        "balance_before": e.balance_before,
        "balance_after": e.balance_after,
        "created_date": format_timestamp(e.created_at),
    });
    v[id_field(e.kind)] = json!(e.reference_id);
    v
}

async fn transactions(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (page, _) = parse_page(query.as_deref(), &[])?;
    let user = caller.user_id().to_string();
    let before = match &page.cursor {
        None => None,
        Some(c) => Some(
            state
                .cursor_key()
                .open(c, &user, "transactions")
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(invalid_cursor)?,
        ),
    };
    // The session check and the page in parallel: one round trip of latency.
    let (_, mut entries) = tokio::try_join!(
        async { Ok::<_, ApiError>(caller.check(&state).await?) },
        async {
            Ok::<_, ApiError>(
                state
                    .store()
                    .list_entries(caller.user_id(), before, page.limit + 1)
                    .await?,
            )
        }
    )?;
    let next_cursor = (entries.len() > page.limit).then(|| {
        entries.truncate(page.limit);
        let last = entries.last().map_or(0, |e| e.seq);
        state
            .cursor_key()
            .seal(&user, "transactions", &last.to_string())
    });
    let result: Vec<Value> = entries.iter().map(entry_json).collect();
    Ok(
        Json(json!({"status": "SUCCESS", "next_cursor": next_cursor, "result": result}))
            .into_response(),
    )
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
    let user = state
        .store()
        .update_profile(who.user_id, &changes, crate::domain::now_millis())
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(success(
        StatusCode::OK,
        json!({
            "user_id": user.user_id.to_string(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "address": user.address,
            "updated_date": format_timestamp(user.updated_at),
        }),
    ))
}
