//! What operators read: transfers by status and the money check; and the admin role.

use async_trait::async_trait;

use super::{Role, StoreResult, Transfer, TxStatus};
use crate::domain::{LoginIdentifier, Millis};

/// Where a listing of transfers continues: below this creation time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPosition {
    pub created_at: Millis,
    pub transfer_id: String,
}

/// Does the money add up? Every amount that entered (top-ups) minus every amount that left
/// (payments) must be somewhere: in a balance, in a transfer still `PENDING`, or held in
/// suspense by a transfer that could be neither credited nor refunded.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MoneyCheck {
    pub balances: i64,
    pub pending: i64,
    pub suspense: i64,
    pub top_ups: i64,
    pub payments: i64,
    /// Transfers per status.
    pub transfers_pending: u64,
    pub transfers_success: u64,
    pub transfers_failed: u64,
    /// Accounts whose ledger chain was verified, and those whose chain is broken (ids).
    pub accounts_checked: u64,
    pub broken_accounts: Vec<String>,
    /// When the check was made.
    pub checked_at: Millis,
}

impl MoneyCheck {
    /// Money held: balances + pending + suspense.
    pub fn held(&self) -> i64 {
        self.balances + self.pending + self.suspense
    }

    /// Money that entered and stayed: top-ups − payments.
    pub fn entered(&self) -> i64 {
        self.top_ups - self.payments
    }

    pub fn holds(&self) -> bool {
        self.held() == self.entered() && self.broken_accounts.is_empty()
    }
}

#[async_trait]
pub trait OperatorStore: Send + Sync + 'static {
    /// Transfers with `status`, newest first, below `before`.
    async fn list_transfers(
        &self,
        status: TxStatus,
        before: Option<&TransferPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Transfer>>;
    /// When the oldest transfer still `PENDING` was made.
    async fn oldest_pending(&self) -> StoreResult<Option<Millis>>;
    /// The money check: computed now where the store can do it in one consistent read
    /// (SQLite), else the latest verdict of the audit (DynamoDB; `None` before the first).
    async fn money_check(&self, now: Millis) -> StoreResult<Option<MoneyCheck>>;
    /// This store as the DynamoDB adapter, whose money check is the scheduled audit's kept
    /// verdict (the audit's scan is not a method of the port: a method of a trait object is
    /// linked into every function that holds one, and only `audit` runs it).
    #[cfg(feature = "dynamodb")]
    fn as_dynamodb(&self) -> Option<&super::DynamoStore> {
        None
    }
    /// Operator action: gives the account named by `identifier` `role`; false when no
    /// account has it.
    async fn set_role(&self, identifier: &LoginIdentifier, role: Role) -> StoreResult<bool>;
}

/// Whether one account's ledger holds: `chain` is its entries as `(seq, balance_before,
/// balance_after)` in sequence order; they must be numbered 1, 2, … with each
/// `balance_before` the previous `balance_after` (0 at first), ending at the account's
/// `balance` and `version`.
pub fn chain_holds(chain: &[(i64, i64, i64)], balance: i64, version: i64) -> bool {
    let mut expected = (1, 0);
    for &(seq, before, after) in chain {
        if (seq, before) != expected {
            return false;
        }
        expected = (seq + 1, after);
    }
    expected == (version + 1, balance)
}
