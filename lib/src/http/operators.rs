//! Operators: `GET /admin/stats`, `GET /admin/transfers?status=` (role `admin` only: 403 for
//! anyone else, 401 without a token).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, FieldErrors};
use super::wallet::{invalid_cursor, parse_page, transfer_json};
use super::{limited, Verified};
use crate::domain::format_timestamp;
use crate::service::operators;
use crate::state::AppState;
use crate::store::{TransferPosition, TxStatus};

pub(super) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stats", limited(get(stats)))
        .route("/admin/transfers", limited(get(transfers)))
}

async fn stats(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    operators::require_admin(&state, &caller).await?;
    parse_page(query.as_deref(), &[])?;
    let s = operators::stats(&state).await?;
    let money = s.money.as_ref().map(|m| {
        json!({
            "verdict": if m.holds() { "holds" } else { "broken" },
            "held": m.held(),
            "entered": m.entered(),
            "balances": m.balances,
            "pending": m.pending,
            "suspense": m.suspense,
            "top_ups": m.top_ups,
            "payments": m.payments,
            "accounts_checked": m.accounts_checked,
            "broken_accounts": m.broken_accounts,
            "checked_date": format_timestamp(m.checked_at),
        })
    });
    let counts = s.money.as_ref().map(|m| {
        json!({
            "PENDING": m.transfers_pending,
            "SUCCESS": m.transfers_success,
            "FAILED": m.transfers_failed,
            "counted_date": format_timestamp(m.checked_at),
        })
    });
    let result = json!({
        "transfers": counts,
        "oldest_pending_age_seconds": s.oldest_pending_at.map(|t| (s.now - t).max(0) / 1000),
        "queue": s.queue,
        "money_check": money.unwrap_or_else(|| json!({"verdict": "unknown"})),
    });
    Ok(Json(json!({"status": "SUCCESS", "result": result})).into_response())
}

async fn transfers(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    operators::require_admin(&state, &caller).await?;
    let (page, rest) = parse_page(query.as_deref(), &["status"])?;
    let status = rest
        .iter()
        .find(|(k, _)| k == "status")
        .and_then(|(_, v)| TxStatus::parse(v))
        .ok_or_else(|| {
            ApiError::validation(FieldErrors::from([(
                "status".to_string(),
                vec!["must be one of PENDING, SUCCESS, FAILED".to_string()],
            )]))
        })?;
    let user = caller.user_id().to_string();
    let scope = format!("admin-transfers:{}", status.as_str());
    let before = match &page.cursor {
        None => None,
        Some(c) => Some(
            state
                .cursor_key()
                .open(c, &user, &scope)
                .and_then(|p| {
                    let (at, id) = p.split_once(':')?;
                    Some(TransferPosition {
                        created_at: at.parse().ok()?,
                        transfer_id: id.to_string(),
                    })
                })
                .ok_or_else(invalid_cursor)?,
        ),
    };
    let (found, more) = operators::transfers(&state, status, before.as_ref(), page.limit).await?;
    let next_cursor = match (more, found.last()) {
        (true, Some(t)) => Some(state.cursor_key().seal(
            &user,
            &scope,
            &format!("{}:{}", t.created_at, t.transfer_id),
        )),
        _ => None,
    };
    let result: Vec<Value> = found.iter().map(transfer_json).collect();
    Ok(
        Json(json!({"status": "SUCCESS", "next_cursor": next_cursor, "result": result}))
            .into_response(),
    )
}
