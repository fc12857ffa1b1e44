//! dompet: an auth + e-wallet API. This library holds everything the hosts share: the domain
//! types, authentication, the storage port and its adapters, the use cases and the HTTP
//! routers. Each Lambda function and the standalone server only wire it up.

pub mod auth;
pub mod config;
pub mod domain;
pub mod example_data;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod queue;
pub mod service;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::Config;
pub use state::{AppState, KeyRole, Keys, Needs};

#[cfg(feature = "aws")]
/// The AWS SDK's configuration from the standard environment, loaded once per process and
/// shared by every client (DynamoDB, SQS, SSM) built at cold start, with one HTTPS client
/// (hyper 1, rustls on ring; the SDK's default stacks are left out at build time).
/// Credentials come from the standard chain: environment, profile files, web identity, and the
/// container or instance role (on Lambda, the environment).
pub async fn aws_config() -> &'static aws_config::SdkConfig {
    static CONFIG: tokio::sync::OnceCell<aws_config::SdkConfig> =
        tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(|| async {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(aws_https_client())
                .load()
                .await
        })
        .await
}

/// The HTTPS client AWS SDK configurations need (the SDK is built without a default one).
#[cfg(feature = "aws")]
pub fn aws_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Logs to stderr; `RUST_LOG` filters (default `info`); no colours on Lambda, and one JSON
/// object per line when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(!on_lambda);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
