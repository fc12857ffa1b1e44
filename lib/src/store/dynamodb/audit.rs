//! The money check on DynamoDB, run off the request path by the scheduled `audit` function: a
//! segmented parallel Scan reads every account, entry and transfer; each account is verified on
//! a snapshot at one version; each transfer's entries must match its status. What moved while
//! the Scan ran is read again until it agrees or is seen not to move; only a disagreement that
//! stays put is reported broken.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;

use super::items::{
    parse_balance, parse_entry, parse_transfer, user_pk, Attrs, Item, PROFILE, TRANSFER,
};
use super::{DynamoStore, SortKeys};
use crate::domain::Millis;
use crate::store::{
    chain_holds, EntryKind, LedgerEntry, MoneyCheck, Transfer, TransferStore, TxStatus,
};

/// Parallel Scan segments.
const SEGMENTS: i32 = 4;
/// Rounds of re-reading what moved before a disagreement counts as real.
const ROUNDS: usize = 5;

/// One account as of one version: its balance and its entries up to that version.
#[derive(Debug, Clone)]
struct Snapshot {
    balance: i64,
    version: u64,
    entries: Vec<LedgerEntry>,
}

impl Snapshot {
    /// Keeps the entries up to the version (entries at or below it are immutable but for
    /// their status), in order.
    fn new(balance: i64, version: u64, mut entries: Vec<LedgerEntry>) -> Self {
        entries.retain(|e| e.seq <= version);
        entries.sort_by_key(|e| e.seq);
        Self {
            balance,
            version,
            entries,
        }
    }

    fn holds(&self) -> bool {
        let chain: Vec<(i64, i64, i64)> = self
            .entries
            .iter()
            .map(|e| (e.seq as i64, e.balance_before, e.balance_after))
            .collect();
        chain_holds(&chain, self.balance, self.version as i64)
    }
}

/// What the Scan found.
#[derive(Default)]
struct Scanned {
    accounts: HashMap<String, (i64, u64)>,
    entries: HashMap<String, Vec<LedgerEntry>>,
    transfers: HashMap<String, Transfer>,
}

impl DynamoStore {
    /// Runs the audit; the caller stores the verdict ([`DynamoStore::store_verdict`]).
    pub async fn audit(&self, now: Millis) -> anyhow::Result<MoneyCheck> {
        let scanned = self.scan_all().await?;
        let mut snapshots: BTreeMap<String, Snapshot> = BTreeMap::new();
        let mut entries = scanned.entries;
        for (user, (balance, version)) in &scanned.accounts {
            let own = entries.remove(user).unwrap_or_default();
            snapshots.insert(user.clone(), Snapshot::new(*balance, *version, own));
        }
        // Entries of deleted accounts stay in the ledger; their transfers still count.
        let orphans: Vec<LedgerEntry> = entries.into_values().flatten().collect();
        let mut transfers = scanned.transfers;

        // An account whose chain fails on the Scan's reads is read again, at one version.
        let failing: Vec<String> = snapshots
            .iter()
            .filter(|(_, snap)| !snap.holds())
            .map(|(u, _)| u.clone())
            .collect();
        for user in failing {
            self.refresh(&mut snapshots, &user).await?;
        }

        // Each transfer's entries, as the snapshots include them, must match its status.
        let mut stuck: BTreeSet<String> = BTreeSet::new();
        let mut still_moving = false;
        for round in 0..ROUNDS {
            let disagreeing = disagreements(&snapshots, &orphans, &transfers);
            if disagreeing.is_empty() {
                stuck.clear();
                break;
            }
            let mut moved = false;
            for id in &disagreeing {
                let fresh = self.get_transfer(id).await?;
                moved |= fresh.as_ref().map(|t| t.status) != transfers.get(id).map(|t| t.status);
                let accounts: Vec<String> = match (&fresh, transfers.get(id)) {
                    (Some(t), _) | (None, Some(t)) => {
                        vec![t.from_user.to_string(), t.to_user.to_string()]
                    }
                    (None, None) => orphan_accounts(&snapshots, id),
                };
                match fresh {
                    Some(t) => {
                        transfers.insert(id.clone(), t);
                    }
                    None => {
                        transfers.remove(id);
                    }
                }
                for user in accounts {
                    let before = snapshots.get(&user).map(|s| s.version);
                    self.refresh(&mut snapshots, &user).await?;
                    moved |= snapshots.get(&user).map(|s| s.version) != before;
                }
            }
            stuck = disagreeing;
            still_moving = moved;
            if !moved && round > 0 {
                break; // read again and nothing moved: the disagreement is real
            }
        }
        if !stuck.is_empty() && still_moving {
            anyhow::bail!(
                "{} transfers kept moving while the audit ran; no verdict this time",
                stuck.len()
            );
        }

        let mut check = MoneyCheck {
            checked_at: now,
            accounts_checked: snapshots.len() as u64,
            ..MoneyCheck::default()
        };
        for (user, snap) in &snapshots {
            check.balances += snap.balance;
            for e in &snap.entries {
                match e.kind {
                    EntryKind::TopUp => check.top_ups += e.amount,
                    EntryKind::Payment => check.payments += e.amount,
                    _ => {}
                }
            }
            if !snap.holds() {
                check.broken_accounts.push(user.clone());
            }
        }
        for e in &orphans {
            match e.kind {
                EntryKind::TopUp => check.top_ups += e.amount,
                EntryKind::Payment => check.payments += e.amount,
                _ => {}
            }
        }
        for t in transfers.values() {
            match t.status {
                TxStatus::Pending => {
                    check.pending += t.amount;
                    check.transfers_pending += 1;
                }
                TxStatus::Success => check.transfers_success += 1,
                TxStatus::Failed => check.transfers_failed += 1,
            }
            if t.suspense {
                check.suspense += t.amount;
            }
        }
        for id in stuck {
            let culprit = transfers
                .get(&id)
                .map(|t| t.from_user.to_string())
                .unwrap_or_else(|| format!("transfer {id}"));
            if !check.broken_accounts.contains(&culprit) {
                check.broken_accounts.push(culprit);
            }
        }
        Ok(check)
    }

    /// Every account, entry and transfer, by a consistent segmented Scan.
    async fn scan_all(&self) -> anyhow::Result<Scanned> {
        let segments = (0..SEGMENTS).map(|segment| self.scan_segment(segment));
        let mut scanned = Scanned::default();
        for items in futures::future::try_join_all(segments).await? {
            for item in &items {
                let a = Attrs(item);
                let (pk, sk) = (a.req_s("pk")?, a.req_s("sk")?);
                if let (Some(user), PROFILE) = (pk.strip_prefix("USER#"), sk.as_str()) {
                    scanned
                        .accounts
                        .insert(user.to_string(), parse_balance(item)?);
                } else if pk.starts_with("USER#") && sk.starts_with("TX#") {
                    let entry = parse_entry(item)?;
                    scanned
                        .entries
                        .entry(entry.user_id.to_string())
                        .or_default()
                        .push(entry);
                } else if pk.starts_with("TRANSFER#") && sk == TRANSFER {
                    let (t, _) = parse_transfer(item)?;
                    scanned.transfers.insert(t.transfer_id.clone(), t);
                }
            }
        }
        Ok(scanned)
    }

    async fn scan_segment(&self, segment: i32) -> anyhow::Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .segment(segment)
                .total_segments(SEGMENTS)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .context("DynamoDB Scan (audit) failed")?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(items),
            }
        }
    }

    /// Reads one account again: its profile, then its entries, kept up to the profile's version.
    async fn refresh(
        &self,
        snapshots: &mut BTreeMap<String, Snapshot>,
        user: &str,
    ) -> anyhow::Result<()> {
        let Some(profile) = self.get(user_pk(user), PROFILE).await? else {
            snapshots.remove(user);
            return Ok(());
        };
        let (balance, version) = parse_balance(&profile)?;
        let entries = self
            .query_partition(user_pk(user), SortKeys::Prefix("TX#"), "audit entries")
            .await?
            .iter()
            .map(parse_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        snapshots.insert(user.to_string(), Snapshot::new(balance, version, entries));
        Ok(())
    }
}

/// Transfers whose entries (as the snapshots and the orphaned entries include them) do not
/// match their status: debited once; credited once when `SUCCESS`; refunded once when
/// `FAILED` and not in suspense; nothing else.
fn disagreements(
    snapshots: &BTreeMap<String, Snapshot>,
    orphans: &[LedgerEntry],
    transfers: &HashMap<String, Transfer>,
) -> BTreeSet<String> {
    #[derive(Default)]
    struct Seen {
        out: i64,
        credited: i64,
        refunded: i64,
    }
    let mut seen: HashMap<&str, Seen> = HashMap::new();
    let all = snapshots
        .values()
        .flat_map(|s| s.entries.iter())
        .chain(orphans.iter());
    for e in all {
        if matches!(e.kind, EntryKind::TopUp | EntryKind::Payment) {
            continue;
        }
        let s = seen.entry(e.reference_id.as_str()).or_default();
        match e.kind {
            EntryKind::TransferOut => s.out += e.amount,
            EntryKind::TransferIn => s.credited += e.amount,
            _ => s.refunded += e.amount,
        }
    }
    let mut disagreeing = BTreeSet::new();
    for (id, t) in transfers {
        let s = seen.remove(id.as_str()).unwrap_or_default();
        let expected = match (t.status, t.suspense) {
            (TxStatus::Pending, _) => (t.amount, 0, 0),
            (TxStatus::Success, _) => (t.amount, t.amount, 0),
            (TxStatus::Failed, true) => (t.amount, 0, 0),
            (TxStatus::Failed, false) => (t.amount, 0, t.amount),
        };
        if (s.out, s.credited, s.refunded) != expected {
            disagreeing.insert(id.clone());
        }
    }
    // Entries naming a transfer the Scan did not see.
    disagreeing.extend(seen.into_keys().map(str::to_string));
    disagreeing
}

/// The accounts holding entries of transfer `id`.
fn orphan_accounts(snapshots: &BTreeMap<String, Snapshot>, id: &str) -> Vec<String> {
    snapshots
        .iter()
        .filter(|(_, s)| s.entries.iter().any(|e| e.reference_id == id))
        .map(|(u, _)| u.clone())
        .collect()
}
