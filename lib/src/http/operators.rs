//! Operators: `GET /admin/stats`, `GET /admin/transfers?status=` (role `admin` only: 403 for
//! anyone else, 401 without a token).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::auth::Verified;
use super::error::ApiError;
use super::layers::limited;
use super::paging::parse_page;
use super::response::{List, Success};
use super::views::TransferView;
use crate::domain::format_timestamp;
use crate::service::operators;
use crate::state::AppState;
use crate::store::TxStatus;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stats", limited(get(stats)))
        .route("/admin/transfers", limited(get(transfers)))
}

/// Transfers counted by status at the last audit.
#[derive(Serialize)]
struct TransferCounts {
    #[serde(rename = "PENDING")]
    pending: u64,
    #[serde(rename = "SUCCESS")]
    success: u64,
    #[serde(rename = "FAILED")]
    failed: u64,
    counted_date: String,
}

/// The latest money check, or `{"verdict": "unknown"}` before the first audit.
#[derive(Serialize)]
#[serde(untagged)]
enum MoneyCheckView<'a> {
    Checked {
        verdict: &'static str,
        held: i64,
        entered: i64,
        balances: i64,
        pending: i64,
        suspense: i64,
        top_ups: i64,
        payments: i64,
        accounts_checked: u64,
        broken_accounts: &'a [String],
        checked_date: String,
    },
    Unknown {
        verdict: &'static str,
    },
}

#[derive(Serialize)]
struct StatsView<'a> {
    transfers: Option<TransferCounts>,
    oldest_pending_age_seconds: Option<i64>,
    queue: Option<crate::queue::QueueDepth>,
    money_check: MoneyCheckView<'a>,
}

async fn stats(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let operator = operators::operator(&state, &caller).await?;
    parse_page(query.as_deref(), &[])?;
    let s = operators::stats(&state, &operator).await?;
    let money = s
        .money
        .as_ref()
        .map_or(MoneyCheckView::Unknown { verdict: "unknown" }, |m| {
            MoneyCheckView::Checked {
                verdict: if m.holds() { "holds" } else { "broken" },
                held: m.held(),
                entered: m.entered(),
                balances: m.balances,
                pending: m.pending,
                suspense: m.suspense,
                top_ups: m.top_ups,
                payments: m.payments,
                accounts_checked: m.accounts_checked,
                broken_accounts: &m.broken_accounts,
                checked_date: format_timestamp(m.checked_at),
            }
        });
    let counts = s.money.as_ref().map(|m| TransferCounts {
        pending: m.transfers_pending,
        success: m.transfers_success,
        failed: m.transfers_failed,
        counted_date: format_timestamp(m.checked_at),
    });
    Ok(Success::ok(StatsView {
        transfers: counts,
        oldest_pending_age_seconds: s.oldest_pending_at.map(|t| (s.now - t).max(0) / 1000),
        queue: s.queue,
        money_check: money,
    })
    .into_response())
}

async fn transfers(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let operator = operators::operator(&state, &caller).await?;
    let (page, rest) = parse_page(query.as_deref(), &["status"])?;
    let status = rest
        .iter()
        .find(|(k, _)| k == "status")
        .and_then(|(_, v)| TxStatus::parse(v))
        .ok_or_else(|| {
            ApiError::invalid_field("status", "must be one of PENDING, SUCCESS, FAILED")
        })?;
    let found = operators::transfers(&state, &operator, status, &page).await?;
    Ok(List::of(&found, TransferView::from).into_response())
}
