//! Reads a DynamoDB Local table's stream and hands it over as Lambda's `DynamoDB` event source
//! does: per shard, in order, in batches, each event naming its shard (a tumbling window's
//! event). DynamoDB splits a table's stream into a shard per partition; DynamoDB Local keeps a
//! small table in one shard, so the pump can split each shard further by partition key
//! (`virtual_shards`), keeping each item's changes in order, as partitions of a bigger table
//! would be.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{json, Map, Value};

pub struct StreamPump {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    virtual_shards: u64,
    /// The last sequence number read, per shard of the stream.
    read: HashMap<String, String>,
}

impl StreamPump {
    pub async fn new(table: &str, virtual_shards: u64) -> Self {
        Self {
            client: crate::dynamodb_local::streams_client().await,
            arn: crate::dynamodb_local::stream_arn(table).await,
            virtual_shards: virtual_shards.max(1),
            read: HashMap::new(),
        }
    }

    /// Every change written since the last call, as events of up to `batch` changes: by
    /// (virtual) shard, each shard's in order.
    pub async fn events(&mut self, batch: usize) -> BTreeMap<String, Vec<Value>> {
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .expect("describe the stream");
        let shards: Vec<String> = description
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_string))
            .collect();
        let mut by_shard: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for shard in shards {
            let request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&shard);
            let request = match self.read.get(&shard) {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .expect("a shard iterator")
                .shard_iterator()
                .map(str::to_string);
            while let Some(it) = iterator {
                let page = self
                    .client
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .expect("read the stream");
                if page.records().is_empty() {
                    break;
                }
                for record in page.records() {
                    let change = record.dynamodb().expect("a change");
                    let seq = change.sequence_number().expect("a sequence number");
                    self.read.insert(shard.clone(), seq.to_string());
                    let pk = match change.keys().and_then(|k| k.get("pk")) {
                        Some(AttributeValue::S(pk)) => pk.clone(),
                        _ => String::new(),
                    };
                    let part = fnv(&pk) % self.virtual_shards;
                    by_shard
                        .entry(format!("{shard}-{part}"))
                        .or_default()
                        .push(lambda_record(record));
                }
                iterator = page.next_shard_iterator().map(str::to_string);
            }
        }
        by_shard
            .into_iter()
            .map(|(shard, records)| {
                let events = records
                    .chunks(batch.max(1))
                    .map(|chunk| {
                        json!({
                            "shardId": shard,
                            "eventSourceARN": self.arn,
                            "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
                            "state": {},
                            "isFinalInvokeForWindow": false,
                            "isWindowTerminatedEarly": false,
                            "Records": chunk,
                        })
                    })
                    .collect();
                (shard, events)
            })
            .collect()
    }
}

/// A stable hash of a partition key.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// One record as Lambda's event has it.
fn lambda_record(record: &Record) -> Value {
    let change = record.dynamodb().expect("a change");
    let mut dynamodb = Map::new();
    dynamodb.insert(
        "SequenceNumber".into(),
        json!(change.sequence_number().unwrap_or_default()),
    );
    if let Some(at) = change.approximate_creation_date_time() {
        dynamodb.insert(
            "ApproximateCreationDateTime".into(),
            json!(at.as_secs_f64()),
        );
    }
    for (name, image) in [
        ("Keys", change.keys()),
        ("NewImage", change.new_image()),
        ("OldImage", change.old_image()),
    ] {
        if let Some(image) = image {
            dynamodb.insert(name.into(), item(image));
        }
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|e| e.as_str()),
        "eventSource": "aws:dynamodb",
        "dynamodb": dynamodb,
    })
}

fn item(image: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(image.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

fn value(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::M(m) => json!({ "M": item(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(value).collect::<Vec<_>>() }),
        _ => json!({ "B": "" }),
    }
}
