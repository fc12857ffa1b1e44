//! The production store: one DynamoDB table, items keyed `pk`/`sk` (see design.md).
//!
//! | item | pk / sk |
//! |---|---|
//! | user | `USER#id` / `PROFILE` |
//! | identifier guard | `USERNAME#lower`, `EMAIL#lower`, `PHONE#as-given` / `GUARD` |
//! | refresh family | `USER#id` / `SESSION#sid` (TTL `expires_at`) |
//! | login throttle | `THROTTLE#key` / `THROTTLE` (TTL `expires_at` for unknown identifiers) |
//! | ledger entry | `USER#id` / `TX#<account version, 20 digits>` |
//! | idempotency record | `USER#id` / `IDEM#<route>#<key>` (TTL `expires_at`) |
//! | transfer | `TRANSFER#id` / `TRANSFER`; while `PENDING` also `pending_shard`/`pending_since`, the keys of the sparse index `pending` |
//!
//! Throttle state lives in its own item rather than on the user item so that login failures
//! never contend with the balance writes that version the user item.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;

use super::{
    CreateUserError, EntryKind, IdempotencyClaim, IdempotencyRecord, LedgerEntry, MoneyError,
    MoneyOp, MoneyOpKind, PendingPage, ProfileChanges, Role, Rotation, Session, Settlement, Store,
    StoreResult, Transfer, TxStatus, UserRecord, Versioned,
};
use crate::auth::Throttle;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};

type Item = HashMap<String, AttributeValue>;

/// How many times a transaction that lost to a concurrent one (`TransactionConflict`) is retried.
const CONFLICT_RETRIES: u32 = 8;

/// How many times a money write whose account version moved is re-read and retried before
/// answering `CONCURRENT_UPDATE`.
const MONEY_ATTEMPTS: u32 = 12;

/// Shards of the sparse `pending` index, so no single index partition takes every transfer.
const PENDING_SHARDS: u32 = 4;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    money_attempts: u32,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            money_attempts: MONEY_ATTEMPTS,
        }
    }

    /// How many times a money write whose account moved meanwhile is tried before answering
    /// `CONCURRENT_UPDATE` (default 12; tests lower it to provoke contention).
    pub fn with_money_attempts(mut self, attempts: u32) -> Self {
        self.money_attempts = attempts.max(1);
        self
    }

    /// A client from the SDK's standard environment (region, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env(table: impl Into<String>) -> Self {
        Self::new(Client::new(crate::aws_config().await), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB GetItem failed")?;
        Ok(out.item)
    }
}

/// Where a walk over the sharded `pending` index continues.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingCursor {
    shard: u32,
    key: Option<std::collections::BTreeMap<String, KeyValue>>,
}

/// A key attribute of the `pending` index (strings and numbers only), as a cursor holds it.
#[derive(serde::Serialize, serde::Deserialize)]
enum KeyValue {
    S(String),
    N(String),
}

impl KeyValue {
    fn from_attribute(v: &AttributeValue) -> anyhow::Result<Self> {
        match v {
            AttributeValue::S(s) => Ok(Self::S(s.clone())),
            AttributeValue::N(n) => Ok(Self::N(n.clone())),
            other => anyhow::bail!("unexpected key attribute {other:?}"),
        }
    }

    fn into_attribute(self) -> AttributeValue {
        match self {
            Self::S(s) => AttributeValue::S(s),
            Self::N(n) => AttributeValue::N(n),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn user_pk(id: UserId) -> String {
    format!("USER#{id}")
}

fn guard_pk(id: &LoginIdentifier) -> String {
    let prefix = match id.kind {
        IdentifierKind::Username => "USERNAME",
        IdentifierKind::Email => "EMAIL",
        IdentifierKind::Phone => "PHONE",
    };
    format!("{prefix}#{}", id.key)
}

fn session_sk(sid: &str) -> String {
    format!("SESSION#{sid}")
}

fn throttle_pk(key: &str) -> String {
    format!("THROTTLE#{key}")
}

fn entry_sk(seq: u64) -> String {
    format!("TX#{seq:020}")
}

fn idem_sk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}

fn transfer_pk(id: &str) -> String {
    format!("TRANSFER#{id}")
}

fn pending_shard(id: &str) -> String {
    let h = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("PENDING#{}", h % PENDING_SHARDS)
}

fn entry_to_item(e: &LedgerEntry) -> Item {
    [
        ("pk", s(format!("USER#{}", e.user_id))),
        ("sk", s(entry_sk(e.seq))),
        ("user_id", s(&e.user_id)),
        ("seq", n(e.seq)),
        ("kind", s(e.kind.as_str())),
        ("reference_id", s(&e.reference_id)),
        ("amount", n(e.amount)),
        ("remarks", s(&e.remarks)),
        ("balance_before", n(e.balance_before)),
        ("balance_after", n(e.balance_after)),
        ("status", s(e.status.as_str())),
        ("created_at", n(e.created_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn entry_from_item(item: &Item) -> anyhow::Result<LedgerEntry> {
    let a = Attrs(item);
    Ok(LedgerEntry {
        user_id: a.req_s("user_id")?,
        seq: a.num("seq")?,
        kind: EntryKind::parse(&a.req_s("kind")?).context("bad entry kind")?,
        reference_id: a.req_s("reference_id")?,
        amount: a.num("amount")?,
        remarks: a.opt_s("remarks").unwrap_or_default(),
        balance_before: a.num("balance_before")?,
        balance_after: a.num("balance_after")?,
        status: TxStatus::parse(&a.req_s("status")?).context("bad entry status")?,
        created_at: a.num("created_at")?,
    })
}

fn transfer_from_item(item: &Item) -> anyhow::Result<(Transfer, u64)> {
    let a = Attrs(item);
    Ok((
        Transfer {
            transfer_id: a.req_s("transfer_id")?,
            from_user: a.req_s("from_user")?,
            to_user: a.req_s("to_user")?,
            amount: a.num("amount")?,
            remarks: a.opt_s("remarks").unwrap_or_default(),
            status: TxStatus::parse(&a.req_s("status")?).context("bad transfer status")?,
            created_at: a.num("created_at")?,
            settled_at: a.opt_num("settled_at"),
            suspense: matches!(item.get("suspense"), Some(AttributeValue::Bool(true))),
        },
        a.num("sender_seq")?,
    ))
}

fn put(
    table: &str,
    item: Item,
    condition: &str,
    values: Option<Item>,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values(values)
                .build()
                .context("Failed to build a put")?,
        )
        .build())
}

/// Moves an account from the version it was read at to the next, with its new balance.
fn balance_update(table: &str, entry: &LedgerEntry) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(format!("USER#{}", entry.user_id)))
                .key("sk", s("PROFILE"))
                .update_expression("SET balance = :after, version = :next, updated_at = :now")
                .condition_expression("version = :v")
                .expression_attribute_values(":after", n(entry.balance_after))
                .expression_attribute_values(":next", n(entry.seq))
                .expression_attribute_values(":now", n(entry.created_at))
                .expression_attribute_values(":v", n(entry.seq - 1))
                .build()
                .context("Failed to build a balance update")?,
        )
        .build())
}

fn entry_status_update(
    table: &str,
    user: &str,
    seq: u64,
    status: TxStatus,
) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(format!("USER#{user}")))
                .key("sk", s(entry_sk(seq)))
                .update_expression("SET #status = :status")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()))
                .build()
                .context("Failed to build an entry status update")?,
        )
        .build())
}

/// Balance and version of a user item.
fn balance_of(item: &Item) -> anyhow::Result<(i64, u64)> {
    let a = Attrs(item);
    Ok((a.num("balance")?, a.num("version")?))
}

/// Typed reads of item attributes.
struct Attrs<'a>(&'a Item);

impl Attrs<'_> {
    fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    fn req_s(&self, name: &str) -> anyhow::Result<String> {
        self.opt_s(name)
            .with_context(|| format!("item lacks string attribute {name}"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<T> {
        self.0
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("item lacks numeric attribute {name}"))
    }

    fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.0
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    fn bool(&self, name: &str) -> bool {
        self.0
            .get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false)
    }
}

fn user_to_item(u: &UserRecord) -> Item {
    let mut item: Item = [
        ("pk", s(user_pk(u.user_id))),
        ("sk", s("PROFILE")),
        ("user_id", s(u.user_id.to_string())),
        ("secret_kind", s(u.secret_kind.as_str())),
        ("secret_hash", s(&u.secret_hash)),
        ("role", s(u.role.as_str())),
        ("balance", n(u.balance)),
        ("version", n(u.version)),
        ("created_at", n(u.created_at)),
        ("updated_at", n(u.updated_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (name, value) in [
        ("username", &u.username),
        ("email", &u.email),
        ("phone_number", &u.phone_number),
        ("first_name", &u.first_name),
        ("last_name", &u.last_name),
        ("address", &u.address),
    ] {
        if let Some(v) = value {
            item.insert(name.to_string(), s(v));
        }
    }
    item
}

fn user_from_item(item: &Item) -> anyhow::Result<UserRecord> {
    let a = Attrs(item);
    let id = a.req_s("user_id")?;
    Ok(UserRecord {
        user_id: UserId::parse(&id).map_err(|e| anyhow::anyhow!("bad user_id {id}: {e}"))?,
        username: a.opt_s("username"),
        email: a.opt_s("email"),
        phone_number: a.opt_s("phone_number"),
        first_name: a.opt_s("first_name"),
        last_name: a.opt_s("last_name"),
        address: a.opt_s("address"),
        secret_kind: SecretKind::parse(&a.req_s("secret_kind")?).context("bad secret_kind")?,
        secret_hash: a.req_s("secret_hash")?,
        role: Role::parse(&a.req_s("role")?).context("bad role")?,
        balance: a.num("balance")?,
        version: a.num("version")?,
        created_at: a.num("created_at")?,
        updated_at: a.num("updated_at")?,
    })
}

/// The `Code` of each item's cancellation reason, when a transaction was cancelled.
fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_string())
                .collect(),
        ),
        _ => None,
    }
}

impl DynamoStore {
    /// Runs one transaction: `Ok(None)` when it committed, `Ok(Some(codes))` with each item's
    /// cancellation reason when a condition or a concurrent transaction cancelled it.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> anyhow::Result<Option<Vec<String>>> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) => Ok(Some(codes)),
                None => Err(anyhow::Error::new(err)
                    .context(format!("DynamoDB TransactWriteItems ({what}) failed"))),
            },
        }
    }
}

async fn backoff(attempt: u32) {
    let jitter = rand::random::<u64>() % 20;
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError> {
        let identifiers = user.identifiers();
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(user_to_item(user)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .context("Failed to build the user put")?,
            )
            .build()];
        for id in &identifiers {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item("pk", s(guard_pk(id)))
                            .item("sk", s("GUARD"))
                            .item("user_id", s(user.user_id.to_string()))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .context("Failed to build a guard put")?,
                    )
                    .build(),
            );
        }
        let mut attempt = 0;
        loop {
            let Some(codes) = self.transact(items.clone(), "register").await? else {
                return Ok(());
            };
            // Items: [user, guards in identifier order]. A failed guard names the identifier.
            if let Some(i) = codes
                .iter()
                .skip(1)
                .position(|c| c == "ConditionalCheckFailed")
            {
                return Err(CreateUserError::Taken(identifiers[i].kind));
            }
            attempt += 1;
            if codes.iter().any(|c| c == "TransactionConflict") && attempt <= CONFLICT_RETRIES {
                backoff(attempt).await;
                continue;
            }
            return Err(anyhow::anyhow!("user creation cancelled: {codes:?}").into());
        }
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.get(user_pk(id), "PROFILE")
            .await?
            .as_ref()
            .map(user_from_item)
            .transpose()
    }

    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>> {
        let Some(guard) = self.get(guard_pk(identifier), "GUARD").await? else {
            return Ok(None);
        };
        let id = Attrs(&guard).req_s("user_id")?;
        let id = UserId::parse(&id).map_err(|e| anyhow::anyhow!("bad guard user_id {id}: {e}"))?;
        self.get_user(id).await
    }

    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>> {
        let Some(item) = self.get(throttle_pk(key), "THROTTLE").await? else {
            return Ok(None);
        };
        let a = Attrs(&item);
        if a.opt_num::<i64>("expires_at")
            .is_some_and(|e| e * 1000 <= now)
        {
            return Ok(None);
        }
        Ok(Some(Versioned {
            value: Throttle {
                failures: a.num("failures")?,
                locked_until: a.num("locked_until")?,
                last_lock_ms: a.num("last_lock_ms")?,
            },
            version: a.num("version")?,
        }))
    }

    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(throttle_pk(key)))
            .item("sk", s("THROTTLE"))
            .item("failures", n(state.failures))
            .item("locked_until", n(state.locked_until))
            .item("last_lock_ms", n(state.last_lock_ms));
        if let Some(exp) = expires_at {
            // TTL attributes are seconds.
            req = req.item("expires_at", n((exp + 999) / 1000));
        }
        req = match expected {
            None => req
                .item("version", n(1))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", n(now / 1000)),
            Some(v) => req
                .item("version", n(v + 1))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB PutItem (throttle) failed")),
        }
    }

    async fn release_throttle(&self, key: &str, reserved: u64, now: Millis) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(throttle_pk(key)))
            .key("sk", s("THROTTLE"))
            .condition_expression(
                "attribute_not_exists(pk) OR version = :v OR locked_until <= :now",
            )
            .expression_attribute_values(":v", n(reserved))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB DeleteItem (throttle) failed")),
        }
    }

    async fn create_session(&self, session: &Session, _now_secs: i64) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(user_pk(session.user_id)))
            .item("sk", s(session_sk(&session.session_id)))
            .item("refresh_jti", s(&session.refresh_jti))
            .item("revoked", AttributeValue::Bool(session.revoked))
            .item("expires_at", n(session.expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .context("DynamoDB PutItem (session) failed")?;
        Ok(())
    }

    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let Some(item) = self.get(user_pk(user), &session_sk(session_id)).await? else {
            return Ok(false);
        };
        let a = Attrs(&item);
        Ok(!a.bool("revoked") && a.num::<i64>("expires_at")? > now_secs)
    }

    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        new_jti: &str,
        new_expires_at: i64,
        now_secs: i64,
    ) -> StoreResult<Rotation> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(session_sk(session_id)))
            .update_expression("SET refresh_jti = :new, expires_at = :exp")
            .condition_expression(
                "refresh_jti = :presented AND revoked = :false AND expires_at > :now",
            )
            .expression_attribute_values(":new", s(new_jti))
            .expression_attribute_values(":exp", n(new_expires_at))
            .expression_attribute_values(":presented", s(presented_jti))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now_secs))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Rotation::Rotated),
            Err(e) => e.into_service_error(),
        };
        let UpdateItemError::ConditionalCheckFailedException(failed) = err else {
            return Err(anyhow::Error::new(err).context("DynamoDB UpdateItem (rotate) failed"));
        };
        let Some(old) = failed.item() else {
            return Ok(Rotation::Inactive);
        };
        let a = Attrs(old);
        if a.bool("revoked") || a.num::<i64>("expires_at")? <= now_secs {
            return Ok(Rotation::Inactive);
        }
        self.revoke_session(user, session_id, now_secs).await?;
        Ok(Rotation::Reused)
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(session_sk(session_id)))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk) AND revoked = :false AND expires_at > :now")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (revoke) failed")),
        }
    }

    async fn apply(
        &self,
        op: &MoneyOp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<LedgerEntry, MoneyError> {
        let user = op.user.to_string();
        for attempt in 1..=self.money_attempts {
            let idem_read = async {
                match claim {
                    Some(c) => {
                        self.idempotency_record(op.user, c.scope, &c.key, op.now)
                            .await
                    }
                    None => Ok(None),
                }
            };
            let (account, record) = tokio::join!(self.get(user_pk(op.user), "PROFILE"), idem_read);
            if let Some(record) = record? {
                return Err(MoneyError::KeyUsed(Box::new(record)));
            }
            let (balance, version) = balance_of(&account?.ok_or(MoneyError::UserNotFound)?)?;
            let entry = op.entry(balance, version)?;
            let mut items = vec![
                balance_update(&self.table, &entry)?,
                put(
                    &self.table,
                    entry_to_item(&entry),
                    "attribute_not_exists(pk)",
                    None,
                )?,
            ];
            if let MoneyOpKind::Transfer { to } = op.kind {
                let item: Item = [
                    ("pk", s(transfer_pk(&op.reference_id))),
                    ("sk", s("TRANSFER")),
                    ("transfer_id", s(&op.reference_id)),
                    ("from_user", s(&user)),
                    ("to_user", s(to.to_string())),
                    ("amount", n(op.amount)),
                    ("remarks", s(&op.remarks)),
                    ("status", s(TxStatus::Pending.as_str())),
                    ("created_at", n(op.now)),
                    ("sender_seq", n(entry.seq)),
                    ("pending_shard", s(pending_shard(&op.reference_id))),
                    ("pending_since", n(op.now)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                items.push(put(&self.table, item, "attribute_not_exists(pk)", None)?);
            }
            let idem_index = items.len();
            if let Some(c) = claim {
                let item: Item = [
                    ("pk", s(user_pk(op.user))),
                    ("sk", s(idem_sk(c.scope, &c.key))),
                    ("request_hash", s(&c.request_hash)),
                    (
                        "entry",
                        s(serde_json::to_string(&entry).context("encode entry")?),
                    ),
                    ("expires_at", n((c.expires_at + 999) / 1000)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let now = Some([(":now".to_string(), n(op.now / 1000))].into());
                items.push(put(
                    &self.table,
                    item,
                    "attribute_not_exists(pk) OR expires_at <= :now",
                    now,
                )?);
            }
            let Some(codes) = self.transact(items, "money").await? else {
                return Ok(entry);
            };
            if codes
                .get(idem_index)
                .is_some_and(|c| c == "ConditionalCheckFailed")
            {
                // The same key won concurrently: answer as that request did.
                if let Some(c) = claim {
                    if let Some(record) = self
                        .idempotency_record(op.user, c.scope, &c.key, op.now)
                        .await?
                    {
                        return Err(MoneyError::KeyUsed(Box::new(record)));
                    }
                }
            }
            // A moved version (balance update or entry put) or a lost race: read again and retry.
            if !codes
                .iter()
                .any(|c| c == "TransactionConflict" || c == "ConditionalCheckFailed")
            {
                return Err(anyhow::anyhow!("money write cancelled: {codes:?}").into());
            }
            backoff(attempt).await;
        }
        Err(MoneyError::Contention)
    }

    async fn idempotency_record(
        &self,
        user: UserId,
        scope: &str,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let Some(item) = self.get(user_pk(user), &idem_sk(scope, key)).await? else {
            return Ok(None);
        };
        let a = Attrs(&item);
        if a.num::<i64>("expires_at")? * 1000 <= now {
            return Ok(None);
        }
        Ok(Some(IdempotencyRecord {
            request_hash: a.req_s("request_hash")?,
            entry: serde_json::from_str(&a.req_s("entry")?)
                .context("stored idempotent entry is not valid")?,
        }))
    }

    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        for attempt in 1..=MONEY_ATTEMPTS {
            let Some(item) = self.get(transfer_pk(transfer_id), "TRANSFER").await? else {
                return Ok(Settlement::Unknown);
            };
            let (t, sender_seq) = transfer_from_item(&item)?;
            if t.status != TxStatus::Pending {
                return Ok(Settlement::AlreadySettled);
            }
            let to = UserId::parse(&t.to_user).map_err(anyhow::Error::msg)?;
            let from = UserId::parse(&t.from_user).map_err(anyhow::Error::msg)?;
            let transfer = &t;
            let settlement_on = |user: UserId, refund: bool| async move {
                Ok::<_, anyhow::Error>(match self.get(user_pk(user), "PROFILE").await? {
                    Some(item) => {
                        let (balance, version) = balance_of(&item)?;
                        transfer.settlement_entry(refund, balance, version, now)
                    }
                    None => None,
                })
            };
            let (entry, outcome) = match settlement_on(to, false).await? {
                Some(entry) => (Some(entry), Settlement::Credited),
                None => match settlement_on(from, true).await? {
                    Some(entry) => (Some(entry), Settlement::Refunded),
                    None => (None, Settlement::Suspended),
                },
            };
            let final_status = outcome.final_status();
            let mark = TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(transfer_pk(transfer_id)))
                        .key("sk", s("TRANSFER"))
                        .update_expression("SET #status = :final, settled_at = :now, suspense = :suspense REMOVE pending_shard, pending_since")
                        .condition_expression("#status = :pending")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":final", s(final_status.as_str()))
                        .expression_attribute_values(":pending", s(TxStatus::Pending.as_str()))
                        .expression_attribute_values(":now", n(now))
                        .expression_attribute_values(
                            ":suspense",
                            AttributeValue::Bool(outcome == Settlement::Suspended),
                        )
                        .build()
                        .context("Failed to build the transfer update")?,
                )
                .build();
            // Named positions: cancellation reasons come back in this order.
            const MARK: usize = 0;
            const SENDER_ENTRY: usize = 1;
            let mut items = vec![
                mark,
                entry_status_update(&self.table, &t.from_user, sender_seq, final_status)?,
            ];
            if let Some(entry) = &entry {
                items.push(balance_update(&self.table, entry)?);
                items.push(put(
                    &self.table,
                    entry_to_item(entry),
                    "attribute_not_exists(pk)",
                    None,
                )?);
            }
            let Some(codes) = self.transact(items, "settle").await? else {
                return Ok(outcome);
            };
            if codes
                .get(MARK)
                .is_some_and(|c| c == "ConditionalCheckFailed")
            {
                return Ok(Settlement::AlreadySettled);
            }
            if codes
                .get(SENDER_ENTRY)
                .is_some_and(|c| c == "ConditionalCheckFailed")
            {
                anyhow::bail!("the sender's entry of transfer {transfer_id} is missing");
            }
            backoff(attempt).await;
        }
        anyhow::bail!("settling transfer {transfer_id} kept conflicting")
    }

    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>> {
        Ok(self
            .get(transfer_pk(transfer_id), "TRANSFER")
            .await?
            .as_ref()
            .map(transfer_from_item)
            .transpose()?
            .map(|(t, _)| t))
    }

    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage> {
        // The index is sharded: a page is one Query of one shard, the cursor names the shard
        // and the Query's LastEvaluatedKey within it.
        let (shard, start) = match cursor {
            None => (0, None),
            Some(c) => {
                let cursor: PendingCursor =
                    serde_json::from_str(c).context("bad pending cursor")?;
                (cursor.shard, cursor.key)
            }
        };
        if shard >= PENDING_SHARDS {
            return Ok(PendingPage::default());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("pending")
            .key_condition_expression("pending_shard = :shard AND pending_since < :before")
            .expression_attribute_values(":shard", s(format!("PENDING#{shard}")))
            .expression_attribute_values(":before", n(created_before))
            .set_exclusive_start_key(start.map(|k| {
                k.into_iter()
                    .map(|(name, value)| (name, value.into_attribute()))
                    .collect()
            }))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .context("DynamoDB Query (pending transfers) failed")?;
        let mut ids = Vec::with_capacity(out.items().len());
        for item in out.items() {
            if let Some(id) = Attrs(item).req_s("pk")?.strip_prefix("TRANSFER#") {
                ids.push(id.to_string());
            }
        }
        let next = match out.last_evaluated_key() {
            Some(key) => Some(PendingCursor {
                shard,
                key: Some(
                    key.iter()
                        .map(|(name, value)| Ok((name.clone(), KeyValue::from_attribute(value)?)))
                        .collect::<anyhow::Result<_>>()?,
                ),
            }),
            None if shard + 1 < PENDING_SHARDS => Some(PendingCursor {
                shard: shard + 1,
                key: None,
            }),
            None => None,
        };
        Ok(PendingPage {
            ids,
            next: next.map(|c| serde_json::to_string(&c)).transpose()?,
        })
    }

    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let upper = match before_seq {
            Some(0) => return Ok(Vec::new()),
            Some(seq) => entry_sk(seq - 1),
            None => entry_sk(u64::MAX),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":lo", s("TX#"))
            .expression_attribute_values(":hi", s(upper))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .context("DynamoDB Query (entries) failed")?;
        out.items().iter().map(entry_from_item).collect()
    }

    async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>> {
        let mut sets = vec!["updated_at = :now".to_string()];
        let mut removes = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s("PROFILE"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        for (name, value) in [
            ("first_name", &changes.first_name),
            ("last_name", &changes.last_name),
            ("address", &changes.address),
        ] {
            match value {
                Some(Some(v)) => {
                    sets.push(format!("{name} = :{name}"));
                    req = req.expression_attribute_values(format!(":{name}"), s(v));
                }
                Some(None) => removes.push(name),
                None => {}
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        match req.update_expression(expression).send().await {
            Ok(out) => out.attributes.as_ref().map(user_from_item).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (profile) failed")),
        }
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<bool> {
        let Some(record) = self.get_user(user).await? else {
            return Ok(false);
        };
        let delete = |pk: String, sk: &str| {
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .context("Failed to build a delete")
        };
        let mut items = vec![delete(user_pk(user), "PROFILE")?];
        for id in record.identifiers() {
            items.push(delete(guard_pk(&id), "GUARD")?);
        }
        match self.transact(items, "delete user").await? {
            None => Ok(true),
            Some(codes) => anyhow::bail!("deleting user {user} was cancelled: {codes:?}"),
        }
    }
}
