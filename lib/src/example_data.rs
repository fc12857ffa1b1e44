//! The example dataset in `example_data/`: five accounts of both registration families (one of
//! them an operator) with known secrets, ledgers that add up, transfers in every status and a
//! few entities each — written as DynamoDB `BatchWriteItem` request files, which
//! `aws dynamodb batch-write-item` loads into a table and `dompet load-example-data` into
//! either store.
//!
//! [`generate`] builds the dataset from [`ACCOUNTS`] and a short history of top-ups,
//! payments and transfers, the way the services would have recorded it. Everything is derived
//! from names (ids, salts) and fixed times, so generating again gives the same files.

use std::path::Path;

use anyhow::Context;
use argon2::password_hash::SaltString;
use sha2::{Digest, Sha256};

use crate::auth::PasswordHasher;
use crate::domain::{EntityId, Millis, SecretKind, UserId};
use crate::store::{Entity, EntryKind, LedgerEntry, Role, Transfer, TxStatus, UserRecord};

/// The table name the files are keyed by; loading into another table replaces it.
pub const TABLE_KEY: &str = "dompet";

/// `BatchWriteItem` takes at most 25 put or delete requests.
pub const MAX_ITEMS_PER_REQUEST: usize = 25;

/// The folder of the files, relative to the repository root.
pub const DEFAULT_DIR: &str = "example_data";

/// Everything the example data holds, as the stores' records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub users: Vec<UserRecord>,
    pub entries: Vec<LedgerEntry>,
    /// Each transfer with the sequence number of its sender's debit.
    pub transfers: Vec<(Transfer, u64)>,
    pub entities: Vec<Entity>,
}

/// One request file: its name and its JSON (`{"<table>": [{"PutRequest": {"Item": …}}, …]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFile {
    pub name: String,
    pub json: serde_json::Value,
}

impl BatchFile {
    /// The file's put requests' items (in DynamoDB's JSON), whatever table it is keyed by.
    pub fn items(&self) -> anyhow::Result<Vec<&serde_json::Value>> {
        let tables = self
            .json
            .as_object()
            .filter(|o| o.len() == 1)
            .with_context(|| format!("{}: expected one table's requests", self.name))?;
        let requests = tables
            .values()
            .next()
            .and_then(|v| v.as_array())
            .with_context(|| format!("{}: the requests are not a list", self.name))?;
        requests
            .iter()
            .map(|r| {
                r.pointer("/PutRequest/Item")
                    .with_context(|| format!("{}: every request must be a PutRequest", self.name))
            })
            .collect()
    }
}

/// Reads every `*.json` file of `dir`, in name order.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<BatchFile>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("Failed to read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "{} has no .json files", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("Failed to read {}", path.display()))?;
            let json = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(BatchFile { name, json })
        })
        .collect()
}

/// Writes `files` into `dir` (pretty JSON, one trailing newline).
pub fn write_dir(dir: &Path, files: &[BatchFile]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    for f in files {
        let path = dir.join(&f.name);
        let text = serde_json::to_string_pretty(&f.json)? + "\n";
        std::fs::write(&path, text)
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    Ok(())
}

/// An example account and the secret it logs in with.
#[derive(Debug, Clone, Copy)]
pub struct ExampleAccount {
    pub username: Option<&'static str>,
    pub email: Option<&'static str>,
    pub phone_number: Option<&'static str>,
    pub secret_kind: SecretKind,
    pub secret: &'static str,
    pub first_name: &'static str,
    pub last_name: Option<&'static str>,
    pub address: Option<&'static str>,
    pub role: Role,
}

impl ExampleAccount {
    /// The first identifier: what the account is called in the history below.
    pub fn name(&self) -> &'static str {
        self.username
            .or(self.email)
            .or(self.phone_number)
            .unwrap_or_default()
    }

    pub fn user_id(&self) -> UserId {
        user_id(self.name())
    }

    /// A login body for each identifier the account has.
    pub fn logins(&self) -> Vec<serde_json::Value> {
        let secret_field = match self.secret_kind {
            SecretKind::Password => "password",
            SecretKind::Pin => "pin",
        };
        [
            ("username", self.username),
            ("email", self.email),
            ("phone_number", self.phone_number),
        ]
        .into_iter()
        .filter_map(|(field, v)| {
            v.map(|v| serde_json::json!({ field: v, secret_field: self.secret }))
        })
        .collect()
    }
}

/// The accounts, with the secrets the README lists.
pub const ACCOUNTS: &[ExampleAccount] = &[
    ExampleAccount {
        username: Some("admin"),
        email: Some("admin@example.com"),
        phone_number: None,
        secret_kind: SecretKind::Password,
        secret: "dompet-admin-2026",
        first_name: "Dewi",
        last_name: Some("Lestari"),
        address: None,
        role: Role::Admin,
    },
    ExampleAccount {
        username: Some("guntur"),
        email: Some("guntur@example.com"),
        phone_number: None,
        secret_kind: SecretKind::Password,
        secret: "guntur-password",
        first_name: "Guntur",
        last_name: Some("Saputro"),
        address: Some("Jl. Merdeka 10, Bandung"),
        role: Role::User,
    },
    ExampleAccount {
        username: None,
        email: Some("sari@example.com"),
        phone_number: None,
        secret_kind: SecretKind::Password,
        secret: "sari-password",
        first_name: "Sari",
        last_name: Some("Wulandari"),
        address: None,
        role: Role::User,
    },
    ExampleAccount {
        username: None,
        email: None,
        phone_number: Some("081234567801"),
        secret_kind: SecretKind::Pin,
        secret: "123456",
        first_name: "Budi",
        last_name: Some("Santoso"),
        address: Some("Jl. Pemuda 5, Semarang"),
        role: Role::User,
    },
    ExampleAccount {
        username: Some("rina"),
        email: None,
        phone_number: Some("+6281234567802"),
        secret_kind: SecretKind::Pin,
        secret: "246810",
        first_name: "Rina",
        last_name: None,
        address: None,
        role: Role::User,
    },
];

/// An id derived from a name: a valid UUID v4, the same every time.
fn uuid_for(name: &str) -> uuid::Uuid {
    let digest = Sha256::digest(format!("dompet example data: {name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn user_id(name: &str) -> UserId {
    UserId::parse(&uuid_for(name).to_string()).expect("a v4 UUID")
}

fn id(name: &str) -> String {
    uuid_for(name).to_string()
}

/// 2026-11-02 02:00:00 UTC (09:00 in Jakarta), when the history starts.
const START: Millis = 1_793_584_800_000;
const MINUTE: Millis = 60_000;

/// How a transfer of the history ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Credited,
    /// The recipient's account was closed before the transfer settled: the sender is refunded.
    Refunded,
    Pending,
}

/// The history as it is recorded: accounts, their entries and transfers, in time order.
struct Book {
    now: Millis,
    users: Vec<UserRecord>,
    entries: Vec<LedgerEntry>,
    transfers: Vec<(Transfer, u64)>,
}

impl Book {
    fn tick(&mut self, minutes: i64) -> Millis {
        self.now += minutes * MINUTE;
        self.now
    }

    fn account(&mut self, name: &str) -> &mut UserRecord {
        let id = user_id(name);
        self.users
            .iter_mut()
            .find(|u| u.user_id == id)
            .unwrap_or_else(|| panic!("no example account {name}"))
    }

    /// Posts an entry on `name`'s account; returns its sequence number.
    fn post(
        &mut self,
        name: &str,
        kind: EntryKind,
        reference_id: &str,
        amount: i64,
        remarks: &str,
        status: TxStatus,
    ) -> u64 {
        let now = self.now;
        let credit = matches!(
            kind,
            EntryKind::TopUp | EntryKind::TransferIn | EntryKind::Refund
        );
        let account = self.account(name);
        let before = account.balance;
        let after = if credit {
            before + amount
        } else {
            before - amount
        };
        assert!(after >= 0, "{name} can't pay {amount}");
        account.balance = after;
        account.version += 1;
        let entry = LedgerEntry {
            user_id: account.user_id,
            seq: account.version,
            kind,
            reference_id: reference_id.to_string(),
            amount,
            remarks: remarks.to_string(),
            balance_before: before,
            balance_after: after,
            status,
            created_at: now,
        };
        let seq = entry.seq;
        self.entries.push(entry);
        seq
    }

    fn top_up(&mut self, name: &str, reference: &str, amount: i64) {
        self.tick(41);
        self.post(
            name,
            EntryKind::TopUp,
            &id(reference),
            amount,
            "",
            TxStatus::Success,
        );
    }

    fn pay(&mut self, name: &str, reference: &str, amount: i64, remarks: &str) {
        self.tick(53);
        self.post(
            name,
            EntryKind::Payment,
            &id(reference),
            amount,
            remarks,
            TxStatus::Success,
        );
    }

    /// A transfer from `from` to the account called `to` and how it ends (settled a couple of
    /// seconds later, as the worker does).
    fn transfer(
        &mut self,
        reference: &str,
        from: &str,
        to: &str,
        amount: i64,
        remarks: &str,
        outcome: Outcome,
    ) {
        let created_at = self.tick(67);
        let transfer_id = id(reference);
        let debit_status = match outcome {
            Outcome::Credited => TxStatus::Success,
            Outcome::Refunded => TxStatus::Failed,
            Outcome::Pending => TxStatus::Pending,
        };
        let sender_seq = self.post(
            from,
            EntryKind::TransferOut,
            &transfer_id,
            amount,
            remarks,
            debit_status,
        );
        let settled_at = (outcome != Outcome::Pending).then(|| created_at + 2_000);
        if let Some(at) = settled_at {
            self.now = at;
            let (account, kind) = match outcome {
                Outcome::Credited => (to, EntryKind::TransferIn),
                _ => (from, EntryKind::Refund),
            };
            self.post(
                account,
                kind,
                &transfer_id,
                amount,
                remarks,
                TxStatus::Success,
            );
        }
        self.transfers.push((
            Transfer {
                transfer_id,
                from_user: user_id(from),
                to_user: user_id(to),
                amount,
                remarks: remarks.to_string(),
                status: debit_status,
                created_at,
                settled_at,
                suspense: false,
            },
            sender_seq,
        ));
    }
}

/// An entity of the example inventory: owner, code, type, quantity, name, description and how
/// many times it was edited.
type Stock = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static str,
    Option<&'static str>,
    u64,
);

const INVENTORY: &[Stock] = &[
    (
        "guntur",
        "BK-001",
        "book",
        3,
        "Laskar Pelangi",
        Some("Andrea Hirata, paperback"),
        0,
    ),
    ("guntur", "BK-002", "book", 1, "Bumi Manusia", None, 2),
    (
        "guntur",
        "ST-010",
        "stationery",
        24,
        "Pulpen hitam",
        Some("Box of 24"),
        0,
    ),
    (
        "sari@example.com",
        "KP-01",
        "coffee",
        12,
        "Kopi Toraja 250 g",
        Some("Medium roast"),
        1,
    ),
    (
        "sari@example.com",
        "KP-02",
        "coffee",
        8,
        "Kopi Gayo 250 g",
        None,
        0,
    ),
    (
        "sari@example.com",
        "TH-01",
        "tea",
        20,
        "Teh Melati",
        None,
        0,
    ),
    (
        "081234567801",
        "SP-100",
        "spare-part",
        15,
        "Busi",
        Some("For 125 cc motorbikes"),
        0,
    ),
    (
        "081234567801",
        "SP-101",
        "spare-part",
        6,
        "Kampas rem",
        None,
        1,
    ),
    ("rina", "KU-01", "cake", 10, "Kue Lapis", None, 0),
    (
        "rina",
        "KU-02",
        "cake",
        0,
        "Nastar",
        Some("Sold out until Lebaran"),
        3,
    ),
];

/// Builds the dataset: the accounts (secrets hashed with salts derived from their names),
/// their history and their inventory.
pub async fn generate(hasher: &PasswordHasher) -> anyhow::Result<Dataset> {
    let mut book = Book {
        now: START,
        users: Vec::new(),
        entries: Vec::new(),
        transfers: Vec::new(),
    };
    for a in ACCOUNTS {
        let created_at = book.tick(7);
        let salt_bytes = &Sha256::digest(format!("salt of {}", a.name()).as_bytes())[..16];
        let salt = SaltString::encode_b64(salt_bytes)
            .map_err(|e| anyhow::anyhow!("Failed to encode a salt: {e}"))?;
        book.users.push(UserRecord {
            user_id: a.user_id(),
            username: a.username.map(str::to_string),
            email: a.email.map(str::to_string),
            phone_number: a.phone_number.map(str::to_string),
            first_name: Some(a.first_name.to_string()),
            last_name: a.last_name.map(str::to_string),
            address: a.address.map(str::to_string),
            secret_kind: a.secret_kind,
            secret_hash: hasher.hash_with_salt(a.secret, salt).await?,
            role: a.role,
            balance: 0,
            version: 0,
            auth_epoch: 0,
            created_at,
            updated_at: created_at,
        });
    }

    let (guntur, sari, budi, rina) = ("guntur", "sari@example.com", "081234567801", "rina");
    book.top_up(guntur, "top-up 1", 500_000);
    book.top_up(sari, "top-up 2", 200_000);
    book.top_up(budi, "top-up 3", 100_000);
    book.top_up(rina, "top-up 4", 150_000);
    book.pay(guntur, "payment 1", 75_000, "Pulsa");
    book.transfer(
        "transfer 1",
        guntur,
        budi,
        50_000,
        "Makan siang",
        Outcome::Credited,
    );
    book.transfer(
        "transfer 2",
        budi,
        sari,
        20_000,
        "Bayar buku",
        Outcome::Credited,
    );
    book.transfer(
        "transfer 3",
        sari,
        "a closed account",
        15_000,
        "Arisan",
        Outcome::Refunded,
    );
    book.pay(sari, "payment 2", 30_000, "Listrik");
    book.top_up(guntur, "top-up 5", 100_000);
    book.transfer(
        "transfer 4",
        rina,
        guntur,
        10_000,
        "Patungan",
        Outcome::Pending,
    );

    let mut entities = Vec::new();
    for &(owner, code, kind, quantity, name, description, edits) in INVENTORY {
        let created_at = book.tick(11);
        entities.push(Entity {
            entity_id: EntityId::parse(&id(&format!("entity {owner} {code}"))).expect("a v4 UUID"),
            user_id: user_id(owner),
            code: code.to_string(),
            kind: kind.to_string(),
            quantity,
            name: Some(name.to_string()),
            description: description.map(str::to_string),
            version: 1 + edits,
            created_at,
            updated_at: created_at + edits as i64 * 90 * MINUTE,
        });
    }
    Ok(Dataset {
        users: book.users,
        entries: book.entries,
        transfers: book.transfers,
        entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_history_adds_up() {
        let d = generate(&PasswordHasher::new(1)).await.unwrap();
        let held: i64 = d.users.iter().map(|u| u.balance).sum::<i64>()
            + d.transfers
                .iter()
                .filter(|(t, _)| t.status == TxStatus::Pending)
                .map(|(t, _)| t.amount)
                .sum::<i64>();
        let entered: i64 = d
            .entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::TopUp => e.amount,
                EntryKind::Payment => -e.amount,
                _ => 0,
            })
            .sum();
        assert_eq!((held, entered), (945_000, 945_000));
        let statuses: Vec<TxStatus> = d.transfers.iter().map(|(t, _)| t.status).collect();
        for s in [TxStatus::Pending, TxStatus::Success, TxStatus::Failed] {
            assert!(statuses.contains(&s), "no {s:?} transfer");
        }
        assert_eq!(d.users.iter().filter(|u| u.role == Role::Admin).count(), 1);
    }
}
