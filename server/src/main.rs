//! The standalone server: every route in one process on the embedded SQLite store (or on
//! DynamoDB with `--store dynamodb`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use dompet::auth::KeyPair;
use dompet::config::{Config, StoreConfig};
use dompet::queue::InProcessQueue;
use dompet::service::transfers;
use dompet::state::{load_keys, open_store};
use dompet::store::schema;
use dompet::store::{DynamoStore, SqliteStore};
use dompet::{AppState, KeyRole, Keys};

#[derive(Parser)]
#[command(name = "dompet", version, about = "dompet: auth + e-wallet API server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Where data is kept.
    #[arg(long, env = "DOMPET_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// SQLite database file (with --store sqlite).
    #[arg(long, env = "DOMPET_DB", default_value = dompet::config::DEFAULT_DB_PATH)]
    db: PathBuf,
    /// Create the DynamoDB table from template.yaml first if it does not exist (--store dynamodb).
    #[arg(long)]
    create_table: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum StoreKind {
    Sqlite,
    Dynamodb,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new Ed25519 key pair: the private key (PKCS#8 PEM) and the public key (base64url).
    Keygen,
    /// Make the account with this username an operator (role admin), on the store chosen by
    /// --store/--db (DynamoDB: DOMPET_TABLE).
    CreateAdmin {
        /// The account's username (any case).
        username: String,
    },
    /// Remove the second factor of an account, for an owner who lost both the authenticator
    /// and the recovery codes (after checking who they are by other means): every login of the
    /// account ends and its email or phone is told.
    RemoveMfa {
        /// The account's username (any case), email or phone number.
        identifier: String,
    },
    /// Load the example dataset (accounts, ledgers, transfers, entities; see the README) into
    /// an empty store chosen by --store/--db (DynamoDB: DOMPET_TABLE).
    LoadExampleData {
        /// The folder of BatchWriteItem request files.
        #[arg(default_value = dompet::example_data::DEFAULT_DIR)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Keygen) = cli.command {
        let pair = KeyPair::generate();
        print!("{}", pair.to_pem()?);
        println!(
            "public key: {}",
            pair.public().jwks()["keys"][0]["x"]
                .as_str()
                .unwrap_or_default()
        );
        return Ok(());
    }
    dompet::init_tracing();

    // --store and --db (which default to DOMPET_STORE and DOMPET_DB) decide the store.
    let store = match cli.store {
        StoreKind::Sqlite => "sqlite",
        StoreKind::Dynamodb => "dynamodb",
    };
    let db = cli.db.to_string_lossy().into_owned();
    let mut config = Config::from_lookup(|name| match name {
        "DOMPET_STORE" => Some(store.to_string()),
        "DOMPET_DB" => Some(db.clone()),
        _ => std::env::var(name).ok(),
    })?;
    match &cli.command {
        Some(Command::CreateAdmin { username }) => {
            return create_admin(&config.store, username).await
        }
        Some(Command::LoadExampleData { dir }) => {
            return load_example_data(&config.store, dir).await
        }
        Some(Command::RemoveMfa { identifier }) => return remove_mfa(&config, identifier).await,
        _ => {}
    }
    let keys = match (&config.store, &config.keys) {
        (_, k) if k.signing_key_pem.is_some() || k.signing_key_file.is_some() || k.signing_key_parameter.is_some() => {
            load_keys(k, KeyRole::Issuer).await?
        }
        (StoreConfig::Sqlite { path }, _) => Keys::Signing(local_key_pair(path)?),
        (StoreConfig::DynamoDb { .. }, _) => anyhow::bail!(
            "--store dynamodb needs a configured signing key: set DOMPET_SIGNING_KEY (see `dompet keygen`)"
        ),
    };
    if config.cursor_secret.is_none() && config.cursor_secret_file.is_none() {
        config.cursor_secret_file = Some(local_secret(&cli.db, "cursor-secret")?);
    }
    if config.mfa_key.is_none() && config.mfa_key_file.is_none() {
        config.mfa_key_file = Some(local_secret(&cli.db, "mfa-key")?);
    }
    if let (StoreConfig::DynamoDb { table }, true) = (&config.store, cli.create_table) {
        create_table_if_missing(table).await?;
    }
    let store = open_store(&config.store).await?;
    let (queue, receiver) = InProcessQueue::new();
    let state = AppState::new(store, Arc::new(queue), keys, &config)?;
    transfers::spawn_background(state.clone(), receiver);

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(cli.host, cli.port))
        .await
        .with_context(|| format!("Failed to listen on {}:{}", cli.host, cli.port))?;
    let addr = listener.local_addr()?;
    match &config.store {
        StoreConfig::Sqlite { path } => tracing::info!(db = %path.display(), "store: sqlite"),
        StoreConfig::DynamoDb { table } => tracing::info!(table = %table, "store: dynamodb"),
    }
    println!("dompet listening on http://{addr}");
    // Each request's client address is its TCP peer (or, behind a trusted proxy, the address
    // it forwards): lockouts count per client address.
    let app = dompet::http::app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The folder of the database file, where the server keeps its local secrets.
fn local_dir(db: &Path) -> &Path {
    db.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A secret kept beside the database (mode 0600), created on first start: random, so nobody
/// can forge a cursor or open a sealed second-factor secret, and kept, so both survive a
/// restart (`cursor-secret`, `mfa-key`).
fn local_secret(db: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = local_dir(db);
    let path = dir.join(name);
    if !path.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&path, &hex)?;
        tracing::info!(path = %path.display(), "created a new {name}");
    }
    Ok(path)
}

/// The key pair kept beside the database, created on first start.
fn local_key_pair(db: &Path) -> anyhow::Result<KeyPair> {
    let dir = local_dir(db);
    let path = dir.join("signing-key.pem");
    if path.exists() {
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        return KeyPair::from_pem(&pem)
            .with_context(|| format!("{} is not a valid key", path.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let pair = KeyPair::generate();
    write_private(&path, &pair.to_pem()?)?;
    tracing::info!(path = %path.display(), "created a new signing key pair");
    Ok(pair)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("Failed to create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// `dompet create-admin <username>`: roles are never set through the API.
async fn create_admin(store: &StoreConfig, username: &str) -> anyhow::Result<()> {
    use dompet::domain::{IdentifierKind, LoginIdentifier};
    let store = open_store(store).await?;
    let identifier = LoginIdentifier::new(IdentifierKind::Username, username);
    if !store
        .set_role(&identifier, dompet::store::Role::Admin)
        .await?
    {
        anyhow::bail!("no account has the username {username}");
    }
    println!("{username} is now an operator (role admin)");
    Ok(())
}

/// `dompet remove-mfa <username|email|phone>`: the operator's removal of a second factor.
async fn remove_mfa(config: &Config, username: &str) -> anyhow::Result<()> {
    use dompet::domain::{IdentifierKind, LoginIdentifier};
    let store = open_store(&config.store).await?;
    // As the web app reads one box: an email has an @, a phone number is digits.
    let kind = if username.contains('@') {
        IdentifierKind::Email
    } else if username
        .trim_start_matches('+')
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        IdentifierKind::Phone
    } else {
        IdentifierKind::Username
    };
    let identifier = LoginIdentifier::new(kind, username);
    let Some(user) = store.find_user(&identifier).await? else {
        anyhow::bail!("no account has the {} {username}", kind.field());
    };
    // The command issues no token and pages nothing: keys of its own.
    let mut config = config.clone();
    config.cursor_secret = Some(dompet::config::SecretString::new(random_secret()));
    let mut state = AppState::new(
        store,
        Arc::new(dompet::queue::NoQueue),
        Keys::Signing(KeyPair::generate()),
        &config,
    )?;
    // The owner is told as the deployment tells them: by SES/SNS when it sends that way.
    if let Some(from) = &config.email_from {
        state = state.with_delivery(Arc::new(
            dompet::delivery::AwsDelivery::from_env(from.clone(), config.sms_countries.clone())
                .await?,
        ));
    }
    if dompet::service::mfa::remove_by_operator(&state, user.user_id).await? {
        println!("{username}: the second factor is removed and every login has ended");
    } else {
        println!("{username} has no second factor");
    }
    Ok(())
}

/// 32 random bytes in hex.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `dompet load-example-data [dir]`: the same files `aws dynamodb batch-write-item` loads.
async fn load_example_data(store: &StoreConfig, dir: &Path) -> anyhow::Result<()> {
    use dompet::example_data;
    let files = example_data::read_dir(dir)?;
    match store {
        StoreConfig::Sqlite { path } => {
            let dataset = dompet::store::dynamodb::batch::dataset(&files)
                .context("The example data is not valid")?;
            let counts = (
                dataset.users.len(),
                dataset.transfers.len(),
                dataset.entities.len(),
            );
            SqliteStore::open(path)?.load_dataset(dataset).await?;
            println!(
                "loaded {} accounts, {} transfers and {} entities into {}",
                counts.0,
                counts.1,
                counts.2,
                path.display()
            );
        }
        StoreConfig::DynamoDb { table } => {
            let written = DynamoStore::from_env(table.clone())
                .await?
                .load_example_data(&files)
                .await?;
            println!("wrote {written} items into the table {table}");
        }
    }
    Ok(())
}

async fn create_table_if_missing(table: &str) -> anyhow::Result<()> {
    let store = DynamoStore::from_env(table).await?;
    let exists = store
        .client()
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if !exists {
        for spec in schema::tables(schema::TEMPLATE)? {
            spec.create(store.client(), table).await?;
        }
        tracing::info!(table, "created the DynamoDB table");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
