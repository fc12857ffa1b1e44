//! Lambda function `audit` (scheduled): checks the money and every ledger chain on the
//! DynamoDB table and stores the verdict `GET /admin/stats` shows.

use dompet::config::{Config, StoreConfig};
use dompet::store::DynamoStore;
use lambda_runtime::{service_fn, Error, LambdaEvent};

async fn handle(store: &DynamoStore) -> Result<serde_json::Value, Error> {
    let check = dompet::service::operators::audit(store).await?;
    Ok(serde_json::json!({
        "verdict": if check.holds() { "holds" } else { "broken" },
        "accounts_checked": check.accounts_checked,
        "broken_accounts": check.broken_accounts,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    let StoreConfig::DynamoDb { table } = Config::from_env()?.store else {
        return Err(
            "the audit runs on DynamoDB: set DOMPET_STORE=dynamodb and DOMPET_TABLE".into(),
        );
    };
    let store = DynamoStore::from_env(table).await?;
    let store = &store;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move { handle(store).await },
    ))
    .await
}
