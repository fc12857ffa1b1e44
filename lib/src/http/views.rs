//! How the API shows what the store keeps: one view per kind of thing, borrowed from the
//! record, in the contract's field names (dates as RFC 3339 text).

use serde::Serialize;

use crate::domain::{format_timestamp, EntityId, UserId};
use crate::store::{Entity, EntryKind, LedgerEntry, SessionInfo, Transfer, UserRecord};

/// A new account as `POST /register` answers it.
#[derive(Serialize)]
pub(crate) struct RegisteredView<'a> {
    user_id: String,
    username: &'a Option<String>,
    email: &'a Option<String>,
    phone_number: &'a Option<String>,
    first_name: &'a Option<String>,
    last_name: &'a Option<String>,
    address: &'a Option<String>,
    created_date: String,
}

impl<'a> From<&'a UserRecord> for RegisteredView<'a> {
    fn from(u: &'a UserRecord) -> Self {
        Self {
            user_id: u.user_id.to_string(),
            username: &u.username,
            email: &u.email,
            phone_number: &u.phone_number,
            first_name: &u.first_name,
            last_name: &u.last_name,
            address: &u.address,
            created_date: format_timestamp(u.created_at),
        }
    }
}

/// The account as `GET /account` (and every identifier change) answers it: as registered,
/// with its balance and when it last changed.
#[derive(Serialize)]
pub(crate) struct AccountView<'a> {
    #[serde(flatten)]
    registered: RegisteredView<'a>,
    balance: i64,
    updated_date: String,
    /// Whether a second factor is active.
    mfa: bool,
}

impl<'a> AccountView<'a> {
    pub fn new(u: &'a UserRecord, mfa: bool) -> Self {
        Self {
            registered: RegisteredView::from(u),
            balance: u.balance,
            updated_date: format_timestamp(u.updated_at),
            mfa,
        }
    }
}

/// The names `PUT /profile` changes.
#[derive(Serialize)]
pub(crate) struct ProfileView<'a> {
    user_id: String,
    first_name: &'a Option<String>,
    last_name: &'a Option<String>,
    address: &'a Option<String>,
    updated_date: String,
}

impl<'a> From<&'a UserRecord> for ProfileView<'a> {
    fn from(u: &'a UserRecord) -> Self {
        Self {
            user_id: u.user_id.to_string(),
            first_name: &u.first_name,
            last_name: &u.last_name,
            address: &u.address,
            updated_date: format_timestamp(u.updated_at),
        }
    }
}

/// Whom a transfer would reach (`GET /users/lookup`): no more than that.
#[derive(Serialize)]
pub(crate) struct RecipientView<'a> {
    user_id: String,
    username: &'a Option<String>,
    display_name: Option<String>,
}

impl<'a> From<&'a UserRecord> for RecipientView<'a> {
    fn from(u: &'a UserRecord) -> Self {
        let name: Vec<&str> = [&u.first_name, &u.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        Self {
            user_id: u.user_id.to_string(),
            username: &u.username,
            display_name: (!name.is_empty()).then(|| name.join(" ")),
        }
    }
}

/// One of the caller's logins (`GET /sessions`).
#[derive(Serialize)]
pub(crate) struct SessionView<'a> {
    session_id: &'a str,
    created_date: String,
    last_used_date: String,
    user_agent: &'a Option<String>,
    current: bool,
    /// The login passed a second factor.
    mfa: bool,
}

impl<'a> SessionView<'a> {
    pub fn new(s: &'a SessionInfo, current_session: &str) -> Self {
        Self {
            session_id: &s.session_id,
            created_date: format_timestamp(s.created_at * 1000),
            last_used_date: format_timestamp(s.last_used_at * 1000),
            user_agent: &s.user_agent,
            current: s.session_id == current_session,
            mfa: s.mfa,
        }
    }
}

/// The id of what made an entry, under the name of its kind.
#[derive(Serialize)]
enum Reference<'a> {
    #[serde(rename = "top_up_id")]
    TopUp(&'a str),
    #[serde(rename = "payment_id")]
    Payment(&'a str),
    #[serde(rename = "transfer_id")]
    Transfer(&'a str),
}

impl<'a> Reference<'a> {
    fn of(e: &'a LedgerEntry) -> Self {
        let id = e.reference_id.as_str();
        match e.kind {
            EntryKind::TopUp => Self::TopUp(id),
            EntryKind::Payment => Self::Payment(id),
            EntryKind::TransferOut | EntryKind::TransferIn | EntryKind::Refund => {
                Self::Transfer(id)
            }
        }
    }
}

/// One line of `GET /transactions`.
#[derive(Serialize)]
pub(crate) struct LedgerEntryView<'a> {
    #[serde(flatten)]
    reference: Reference<'a>,
    status: &'static str,
    user_id: UserId,
    transaction_type: &'static str,
    amount: i64,
    remarks: &'a str,
    balance_before: i64,
    balance_after: i64,
    created_date: String,
}

impl<'a> From<&'a LedgerEntry> for LedgerEntryView<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        Self {
            reference: Reference::of(e),
            status: e.status.as_str(),
            user_id: e.user_id,
            transaction_type: if e.kind.is_credit() {
                "CREDIT"
            } else {
                "DEBIT"
            },
            amount: e.amount,
            remarks: &e.remarks,
            balance_before: e.balance_before,
            balance_after: e.balance_after,
            created_date: format_timestamp(e.created_at),
        }
    }
}

/// `POST /topup`'s answer.
#[derive(Serialize)]
pub(crate) struct TopUpView<'a> {
    top_up_id: &'a str,
    amount_top_up: i64,
    balance_before: i64,
    balance_after: i64,
    created_date: String,
}

impl<'a> From<&'a LedgerEntry> for TopUpView<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        Self {
            top_up_id: &e.reference_id,
            amount_top_up: e.amount,
            balance_before: e.balance_before,
            balance_after: e.balance_after,
            created_date: format_timestamp(e.created_at),
        }
    }
}

/// `POST /pay`'s answer.
#[derive(Serialize)]
pub(crate) struct PaymentView<'a> {
    payment_id: &'a str,
    amount: i64,
    remarks: &'a str,
    balance_before: i64,
    balance_after: i64,
    created_date: String,
}

impl<'a> From<&'a LedgerEntry> for PaymentView<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        Self {
            payment_id: &e.reference_id,
            amount: e.amount,
            remarks: &e.remarks,
            balance_before: e.balance_before,
            balance_after: e.balance_after,
            created_date: format_timestamp(e.created_at),
        }
    }
}

/// `POST /transfer`'s answer: the sender's debit, pending.
#[derive(Serialize)]
pub(crate) struct TransferSentView<'a> {
    transfer_id: &'a str,
    amount: i64,
    remarks: &'a str,
    balance_before: i64,
    balance_after: i64,
    transfer_status: &'static str,
    created_date: String,
}

impl<'a> From<&'a LedgerEntry> for TransferSentView<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        Self {
            transfer_id: &e.reference_id,
            amount: e.amount,
            remarks: &e.remarks,
            balance_before: e.balance_before,
            balance_after: e.balance_after,
            transfer_status: e.status.as_str(),
            created_date: format_timestamp(e.created_at),
        }
    }
}

/// A transfer as `GET /transfer/{id}` and operators see it.
#[derive(Serialize)]
pub(crate) struct TransferView<'a> {
    transfer_id: &'a str,
    from_user: UserId,
    to_user: UserId,
    amount: i64,
    remarks: &'a str,
    transfer_status: &'static str,
    created_date: String,
    settled_date: Option<String>,
}

impl<'a> From<&'a Transfer> for TransferView<'a> {
    fn from(t: &'a Transfer) -> Self {
        Self {
            transfer_id: &t.transfer_id,
            from_user: t.from_user,
            to_user: t.to_user,
            amount: t.amount,
            remarks: &t.remarks,
            transfer_status: t.status.as_str(),
            created_date: format_timestamp(t.created_at),
            settled_date: t.settled_at.map(format_timestamp),
        }
    }
}

/// An entity of the caller's inventory.
#[derive(Serialize)]
pub(crate) struct EntityView<'a> {
    entity_id: EntityId,
    code: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    quantity: i64,
    name: &'a Option<String>,
    description: &'a Option<String>,
    version: u64,
    created_date: String,
    updated_date: String,
}

impl<'a> From<&'a Entity> for EntityView<'a> {
    fn from(e: &'a Entity) -> Self {
        Self {
            entity_id: e.entity_id,
            code: &e.code,
            kind: &e.kind,
            quantity: e.quantity,
            name: &e.name,
            description: &e.description,
            version: e.version,
            created_date: format_timestamp(e.created_at),
            updated_date: format_timestamp(e.updated_at),
        }
    }
}
