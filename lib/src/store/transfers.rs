//! Transfers between accounts and their settlement.

use async_trait::async_trait;

use super::{EntryKind, LedgerEntry, StoreResult, TxStatus};
use crate::domain::{Millis, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: String,
    pub from_user: UserId,
    pub to_user: UserId,
    pub amount: i64,
    pub remarks: String,
    pub status: TxStatus,
    pub created_at: Millis,
    pub settled_at: Option<Millis>,
    /// `FAILED` and neither credited nor refunded: both accounts were gone (or could not hold
    /// the money), so the amount is held in suspense for an operator to resolve.
    pub suspense: bool,
}

impl Transfer {
    /// The entry settling this transfer makes: the recipient's `TransferIn` credit, or the
    /// sender's `Refund` when the recipient can't be credited, on that account holding
    /// `balance` at `version`. `None` when the balance would overflow.
    pub fn settlement_entry(
        &self,
        refund: bool,
        balance: i64,
        version: u64,
        now: Millis,
    ) -> Option<LedgerEntry> {
        let (kind, account) = if refund {
            (EntryKind::Refund, &self.from_user)
        } else {
            (EntryKind::TransferIn, &self.to_user)
        };
        Some(LedgerEntry {
            user_id: *account,
            seq: version + 1,
            kind,
            reference_id: self.transfer_id.clone(),
            amount: self.amount,
            remarks: self.remarks.clone(),
            balance_before: balance,
            balance_after: balance.checked_add(self.amount)?,
            status: TxStatus::Success,
            created_at: now,
        })
    }
}

/// A page of pending transfer ids and where the next page starts (opaque to callers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingPage {
    pub ids: Vec<String>,
    pub next: Option<String>,
}

impl PendingPage {
    /// Every pending transfer created before `created_before`, following the cursors.
    pub async fn all(
        store: &dyn TransferStore,
        created_before: Millis,
    ) -> StoreResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .pending_transfers(created_before, cursor.as_deref(), 1000)
                .await?;
            ids.extend(page.ids);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }
}

/// What settling a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Credited to the recipient now.
    Credited,
    /// The recipient could not be credited: marked `FAILED`, sender refunded now.
    Refunded,
    /// Neither credited nor refunded (both accounts gone): marked `FAILED` with the money held
    /// in suspense, so it is never retried again.
    Suspended,
    /// It was settled before (a duplicate delivery): nothing happened.
    AlreadySettled,
    /// No such transfer.
    Unknown,
}

impl Settlement {
    /// The status a settlement leaves its transfer (and the sender's entry) in.
    pub fn final_status(self) -> TxStatus {
        match self {
            Self::Credited => TxStatus::Success,
            Self::Refunded | Self::Suspended => TxStatus::Failed,
            Self::AlreadySettled | Self::Unknown => TxStatus::Pending,
        }
    }
}

/// Transfers: read, settle exactly once, and find the ones still pending.
#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
    /// Settles a `PENDING` transfer exactly once, atomically: credit the recipient (or refund
    /// the sender when the recipient can't be credited) and mark transfer and sender entry.
    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement>;

    /// [`settle_transfer`](Self::settle_transfer) when the caller knows the recipient (the
    /// queue message names it): a store that reads the account before it writes reads it
    /// with the transfer, in one round trip. A wrong `to_user` costs a read, never a wrong
    /// settlement: the transfer's own recipient is credited.
    async fn settle_transfer_to(
        &self,
        transfer_id: &str,
        to_user: &str,
        now: Millis,
    ) -> StoreResult<Settlement> {
        let _ = to_user;
        self.settle_transfer(transfer_id, now).await
    }

    /// [`settle_transfer_to`](Self::settle_transfer_to) for transfers the caller takes to be
    /// all to `to_user` (a batch's, grouped by recipient): one outcome per id, in their order.
    /// A store whose credits to one account contend with each other credits them together
    /// (DynamoDB: one transaction on the account for many transfers); this one settles each on
    /// its own, all at once.
    async fn settle_transfers_to(
        &self,
        to_user: &str,
        transfer_ids: &[String],
        now: Millis,
    ) -> Vec<StoreResult<Settlement>> {
        futures::future::join_all(
            transfer_ids
                .iter()
                .map(|id| self.settle_transfer_to(id, to_user, now)),
        )
        .await
    }

    /// Ends a `PENDING` transfer whose settlement kept failing, exactly once as a settlement:
    /// the recipient is not credited; the sender is refunded (`Refunded`), or, when even that
    /// can't be posted, the transfer is `FAILED` with its money held in suspense
    /// (`Suspended`), so nothing retries it again.
    async fn give_up_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement>;

    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>>;

    /// One page of the transfers still `PENDING` that were created before `created_before`.
    /// Pass the page's `next` back to continue: following it visits each such transfer once,
    /// and it is `None` once all have been visited. A page may be short, even empty, while
    /// `next` is still given.
    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage>;
}
