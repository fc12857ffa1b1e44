//! The example dataset as `BatchWriteItem` request files: every record as the item this
//! adapter stores (built and parsed by `items`), in DynamoDB's JSON, at most 25 per file.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{json, Value};

use super::items::{self, s, Item};
use super::DynamoStore;
use crate::example_data::{BatchFile, Dataset, MAX_ITEMS_PER_REQUEST, TABLE_KEY};

/// The request files of `dataset`: `accounts` (profiles and identifier guards), `ledger`
/// (entries and transfers), `entities` (entities and their code guards), each split into
/// files of at most 25 items.
pub fn files(dataset: &Dataset) -> Vec<BatchFile> {
    // Each account counts the transfers to it still pending, as the transfers' own writes
    // keep the count (closing is conditional on it).
    let mut pending_in: BTreeMap<String, i64> = BTreeMap::new();
    for (t, _) in &dataset.transfers {
        if t.status == crate::store::TxStatus::Pending {
            *pending_in.entry(t.to_user.to_string()).or_default() += 1;
        }
    }
    let accounts: Vec<Item> = dataset
        .users
        .iter()
        .flat_map(|u| {
            let mut profile = items::user_item(u);
            if let Some(count) = pending_in.get(&u.user_id.to_string()) {
                profile.insert(items::PENDING_IN.to_string(), items::n(*count));
            }
            std::iter::once(profile).chain(
                u.identifiers()
                    .into_iter()
                    .map(|id| items::guard_item(&id, u.user_id)),
            )
        })
        .collect();
    let ledger: Vec<Item> = dataset
        .entries
        .iter()
        .map(items::entry_item)
        .chain(
            dataset
                .transfers
                .iter()
                .map(|(t, seq)| items::transfer_item(t, *seq)),
        )
        .collect();
    let entities: Vec<Item> = dataset
        .entities
        .iter()
        .flat_map(|e| [items::entity_item(e), items::entity_code_item(e)])
        .collect();
    let mut files = Vec::new();
    for (part, all) in [
        ("accounts", accounts),
        ("ledger", ledger),
        ("entities", entities),
    ] {
        let chunks: Vec<&[Item]> = all.chunks(MAX_ITEMS_PER_REQUEST).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let name = match chunks.len() {
                1 => format!("{}-{part}.json", files.len() + 1),
                _ => format!("{}-{part}-{}.json", files.len() + 1, i + 1),
            };
            let requests: Vec<Value> = chunk
                .iter()
                .map(|item| json!({ "PutRequest": { "Item": item_to_json(item) } }))
                .collect();
            files.push(BatchFile {
                name,
                json: json!({ TABLE_KEY: requests }),
            });
        }
    }
    files
}

/// The dataset the files hold. Guards are derived data (the SQLite store enforces uniqueness
/// with indexes) and are checked to name their account; any other kind of item is refused.
pub fn dataset(files: &[BatchFile]) -> anyhow::Result<Dataset> {
    let mut d = Dataset::default();
    let mut guards = Vec::new();
    for f in files {
        for (i, json) in f.items()?.into_iter().enumerate() {
            let item =
                item_from_json(json).with_context(|| format!("{} item {}", f.name, i + 1))?;
            let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let (pk, sk) = (key("pk").unwrap_or_default(), key("sk").unwrap_or_default());
            let parsed = match sk.as_str() {
                items::PROFILE => items::parse_user(&item).map(|u| d.users.push(u)),
                items::GUARD => items::parse_guard(&item).map(|u| guards.push((pk.clone(), u))),
                items::TRANSFER => items::parse_transfer(&item).map(|t| d.transfers.push(t)),
                _ if sk.starts_with("TX#") => items::parse_entry(&item).map(|e| d.entries.push(e)),
                _ if sk.starts_with("ENTITY#") => {
                    items::parse_entity(&item).map(|e| d.entities.push(e))
                }
                _ if sk.starts_with("ENTITY_CODE#") => Ok(()),
                _ => Err(anyhow::anyhow!("not a kind of item example data holds")),
            };
            parsed.with_context(|| format!("{} item {} ({pk} / {sk})", f.name, i + 1))?;
        }
    }
    for (pk, owner) in guards {
        anyhow::ensure!(
            d.users.iter().any(|u| u.user_id == owner
                && u.identifiers().iter().any(|id| items::guard_pk(id) == pk)),
            "the guard {pk} names no account with that identifier"
        );
    }
    Ok(d)
}

fn item_to_json(item: &Item) -> Value {
    let sorted: BTreeMap<&String, Value> = item
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttributeValue::S(x) => json!({ "S": x }),
                AttributeValue::N(x) => json!({ "N": x }),
                AttributeValue::Bool(x) => json!({ "BOOL": x }),
                other => unreachable!("items hold strings, numbers and booleans, not {other:?}"),
            };
            (k, v)
        })
        .collect();
    json!(sorted)
}

fn item_from_json(json: &Value) -> anyhow::Result<Item> {
    let object = json.as_object().context("an item must be an object")?;
    object
        .iter()
        .map(|(name, v)| {
            let typed = v.as_object().filter(|o| o.len() == 1);
            let value = match typed.and_then(|o| o.iter().next()) {
                Some((t, Value::String(x))) if t == "S" => AttributeValue::S(x.clone()),
                Some((t, Value::String(x))) if t == "N" => {
                    x.parse::<f64>()
                        .with_context(|| format!("{name}: {x} is not a number"))?;
                    AttributeValue::N(x.clone())
                }
                Some((t, Value::Bool(x))) if t == "BOOL" => AttributeValue::Bool(*x),
                _ => {
                    anyhow::bail!("{name}: expected {{\"S\"|\"N\": string}} or {{\"BOOL\": bool}}")
                }
            };
            Ok((name.clone(), value))
        })
        .collect()
}

impl DynamoStore {
    /// Writes the files' items into this store's table (whatever table they are keyed by),
    /// one `BatchWriteItem` per file, retrying unprocessed items. Refuses a table that already
    /// has an account: example accounts, an operator among them, have published secrets.
    /// Returns how many items were written.
    pub async fn load_example_data(&self, files: &[BatchFile]) -> anyhow::Result<usize> {
        dataset(files).context("The example data is not valid")?;
        anyhow::ensure!(
            !self.has_accounts().await?,
            "the table {} already has accounts; example data loads only into an empty table",
            self.table
        );
        let mut written = 0;
        for f in files {
            let mut requests = f
                .items()?
                .into_iter()
                .map(|json| {
                    let put = PutRequest::builder()
                        .set_item(Some(item_from_json(json)?))
                        .build()
                        .context("Failed to build a put request")?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            written += requests.len();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .with_context(|| format!("DynamoDB BatchWriteItem of {} failed", f.name))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                anyhow::ensure!(attempt < 10, "{}: items stayed unprocessed", f.name);
                super::backoff(attempt + 1).await;
            }
        }
        Ok(written)
    }

    /// Whether any account exists: a Scan for profile items that stops at the first (an
    /// operator command's check, never on a request path).
    async fn has_accounts(&self) -> anyhow::Result<bool> {
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :profile")
                .expression_attribute_values(":profile", s(items::PROFILE))
                .projection_expression("pk")
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .context("DynamoDB Scan for accounts failed")?;
            if out.count > 0 {
                return Ok(true);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(false),
            }
        }
    }
}
