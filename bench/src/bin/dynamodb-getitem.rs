//! The DynamoDB benchmark's baseline: bare `GetItem` round trips (strongly consistent, as the
//! store reads) of one small item, from `--concurrency` tasks on one client, with nothing else
//! around them. The endpoint and credentials come from the SDK's standard environment
//! (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
//!
//!     dynamodb-getitem --table dompet [--seconds 10] [--concurrency 16]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let table = arg("--table").ok_or_else(|| anyhow::anyhow!("--table is required"))?;
    let seconds: u64 = arg("--seconds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let concurrency: usize = arg("--concurrency")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(16);
    let client = aws_sdk_dynamodb::Client::new(dompet::aws_config().await?);
    let key = |item: &mut std::collections::HashMap<String, AttributeValue>| {
        item.insert("pk".into(), AttributeValue::S("BENCH#getitem".into()));
        item.insert("sk".into(), AttributeValue::S("BENCH".into()));
    };
    let mut item = Default::default();
    key(&mut item);
    item.insert("balance".into(), AttributeValue::N("0".into()));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item))
        .send()
        .await?;

    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks = (0..concurrency).map(|_| {
        let client = client.clone();
        let table = table.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let mut k = Default::default();
                key(&mut k);
                let t = Instant::now();
                let out = client
                    .get_item()
                    .table_name(&table)
                    .set_key(Some(k))
                    .consistent_read(true)
                    .send()
                    .await?;
                anyhow::ensure!(out.item.is_some(), "the item is missing");
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        })
    });
    let mut all = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    println!("requests: {}", all.len());
    println!("requests/s: {:.2}", all.len() as f64 / elapsed);
    println!("p50 ms: {:.3}", percentile(&all, 0.50));
    println!("p99 ms: {:.3}", percentile(&all, 0.99));
    Ok(())
}
