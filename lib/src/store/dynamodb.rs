//! The production store: one DynamoDB table, items keyed `pk`/`sk` (see design.md).
//!
//! | item | pk / sk |
//! |---|---|
//! | user | `USER#id` / `PROFILE` |
//! | identifier guard | `USERNAME#lower`, `EMAIL#lower`, `PHONE#as-given` / `GUARD` |
//! | refresh family | `USER#id` / `SESSION#sid` (TTL `expires_at`) |
//! | login throttle | `THROTTLE#key` / `THROTTLE` (TTL `expires_at` for unknown identifiers) |
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
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::{CreateUserError, Role, Rotation, Session, Store, StoreResult, UserRecord, Versioned};
use crate::auth::Throttle;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};

type Item = HashMap<String, AttributeValue>;

/// How many times a transaction that lost to a concurrent one (`TransactionConflict`) is retried.
const CONFLICT_RETRIES: u32 = 8;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client from the SDK's standard environment (region, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(Client::new(&config), table)
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
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let Some(codes) = cancellation_codes(&err) else {
                return Err(anyhow::Error::new(err).context("DynamoDB TransactWriteItems failed").into());
            };
            // Items: [user, guards in identifier order]. A failed guard names the identifier.
            if let Some(i) = codes.iter().skip(1).position(|c| c == "ConditionalCheckFailed") {
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

    async fn get_throttle(&self, key: &str, now: Millis) -> StoreResult<Option<Versioned<Throttle>>> {
        let Some(item) = self.get(throttle_pk(key), "THROTTLE").await? else {
            return Ok(None);
        };
        let a = Attrs(&item);
        if a.opt_num::<i64>("expires_at").is_some_and(|e| e * 1000 <= now) {
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
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB PutItem (throttle) failed")),
        }
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(throttle_pk(key)))
            .key("sk", s("THROTTLE"))
            .send()
            .await
            .context("DynamoDB DeleteItem (throttle) failed")?;
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
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

    async fn session_active(&self, user: UserId, session_id: &str, now_secs: i64) -> StoreResult<bool> {
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
            .condition_expression("refresh_jti = :presented AND revoked = :false AND expires_at > :now")
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

    async fn revoke_session(&self, user: UserId, session_id: &str, now_secs: i64) -> StoreResult<bool> {
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
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (revoke) failed")),
        }
    }
}
