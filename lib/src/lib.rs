//! dompet: an auth + e-wallet API. This library holds everything the hosts share: the domain
//! types, authentication, the storage port and its adapters, the use cases and the HTTP
//! routers. Each Lambda function and the standalone server only wire it up.

pub mod auth;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod example_data;
pub mod http;
#[cfg(feature = "jobs")]
pub mod jobs;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod paging;
pub mod pictures;
pub mod queue;
#[allow(clippy::disallowed_methods)] // the use cases: the one place stores are reached
pub mod service;
#[allow(clippy::disallowed_methods)]
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::disallowed_methods)]
pub mod testing;

pub use config::Config;
pub use state::{AppState, KeyRole, Keys, Needs};

#[cfg(feature = "aws")]
/// The AWS SDK's configuration from the standard environment, loaded once per process and
/// shared by every client (DynamoDB, SQS, SSM) built at cold start, with one HTTPS client
/// (hyper 1, rustls on ring; the SDK's default stacks are left out at build time).
/// Credentials come from the standard chain: environment, profile files, web identity, and the
/// container or instance role (on Lambda, the environment).
pub async fn aws_config() -> anyhow::Result<&'static aws_config::SdkConfig> {
    static CONFIG: tokio::sync::OnceCell<aws_config::SdkConfig> =
        tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_try_init(|| async {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(aws_https_client()?);
            if let Some(url) = endpoint_override(ENDPOINT_URL) {
                loader = loader.endpoint_url(url);
            }
            Ok(loader.load().await)
        })
        .await
}

/// Where every AWS service is reached instead of its AWS endpoint: the variable `sam local`
/// sets to a local emulator (moto's server). The SDK's own `AWS_ENDPOINT_URL` does the same, but
/// `sam local` passes a function only the variables its template declares, and the template
/// can't declare that one empty (the SDK warns about an empty URL at every start). Empty or
/// unset (as in AWS): the services' own endpoints.
#[cfg(feature = "aws")]
pub const ENDPOINT_URL: &str = "DOMPET_ENDPOINT_URL";

/// [`ENDPOINT_URL`] for DynamoDB alone (DynamoDB Local), as `AWS_ENDPOINT_URL_DYNAMODB` is to
/// `AWS_ENDPOINT_URL`.
#[cfg(feature = "aws")]
pub const ENDPOINT_URL_DYNAMODB: &str = "DOMPET_ENDPOINT_URL_DYNAMODB";

/// The value of an endpoint variable ([`ENDPOINT_URL`], [`ENDPOINT_URL_DYNAMODB`]), if set
/// and not empty.
#[cfg(feature = "aws")]
pub fn endpoint_override(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// The root certificates of Amazon Trust Services, the CAs of every AWS service endpoint.
#[cfg(feature = "aws")]
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

/// The HTTPS client AWS SDK configurations need (the SDK is built without a default one).
///
/// It trusts the Amazon Trust Services roots ([`AWS_ROOTS_PEM`]) unless `DOMPET_TLS_ROOTS=system`
/// asks for the operating system's store. Reading and parsing the system store (some 150
/// certificates in files) was most of a function's cold start.
#[cfg(feature = "aws")]
pub fn aws_https_client() -> anyhow::Result<aws_smithy_runtime_api::client::http::SharedHttpClient>
{
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};
    let trust = trust_store(std::env::var("DOMPET_TLS_ROOTS").ok().as_deref())?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(TlsContext::builder().with_trust_store(trust).build()?)
        .build_https())
}

#[cfg(feature = "aws")]
fn trust_store(setting: Option<&str>) -> anyhow::Result<aws_smithy_http_client::tls::TrustStore> {
    use aws_smithy_http_client::tls::TrustStore;
    match setting.map(str::trim) {
        None | Some("" | "aws") => Ok(TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM)),
        Some("system") => Ok(TrustStore::default()),
        Some(other) => anyhow::bail!("DOMPET_TLS_ROOTS must be `aws` or `system`, got {other:?}"),
    }
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use rustls_pki_types::{pem::PemObject, CertificateDer};

    #[test]
    fn the_built_in_roots_are_the_five_amazon_trust_services_certificates() {
        let certs = CertificateDer::pem_slice_iter(super::AWS_ROOTS_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        for cert in &certs {
            // Each parses as a trust anchor, as rustls's root store will take it.
            webpki::anchor_from_trusted_cert(cert).expect("a root certificate");
        }
    }

    #[test]
    fn tls_roots_setting() {
        assert!(super::trust_store(None).is_ok());
        assert!(super::trust_store(Some("aws")).is_ok());
        assert!(super::trust_store(Some("system")).is_ok());
        let err = super::trust_store(Some("mozilla")).unwrap_err().to_string();
        assert!(err.contains("DOMPET_TLS_ROOTS"), "{err}");
    }
}

/// The log filter of a Lambda log level (`AWS_LAMBDA_LOG_LEVEL`). `DEBUG` and `TRACE` are
/// dompet's own (its spans and store calls): the Lambda runtime and the AWS SDK log whole events
/// and request bodies (tokens, secrets, one-time codes) at those levels, so they stay at `info`.
/// `FATAL` has no level of its own: `error`. Anything else: `info`.
fn lambda_log_filter(level: &str) -> &'static str {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "info,dompet=trace",
        "DEBUG" => "info,dompet=debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// Logs to stdout; `RUST_LOG` filters, else the function's log level (`AWS_LAMBDA_LOG_LEVEL`,
/// set by its logging configuration: [`lambda_log_filter`]), else `info`; no colours on Lambda,
/// and one JSON object per line when the function's log format is JSON
/// (`AWS_LAMBDA_LOG_FORMAT=JSON`).
///
/// Every request has a span, every use case one inside it (`info`) and every store call one
/// inside that (`debug`); none records a secret or a body. With `DOMPET_LOG_SPANS=1` each span
/// is logged as it closes with the time it took (`time.busy`, `time.idle`), so a slow request
/// shows where its time went (`RUST_LOG=debug` to include the store calls).
pub fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::prelude::*;
    // `RUST_LOG` as a list of `target=level` directives and a default level (`Targets`: no
    // regular expressions, so no regex engine in every function).
    let lambda = || {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_default();
        lambda_log_filter(&level)
    };
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| lambda().parse().unwrap_or_default());
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let spans = std::env::var("DOMPET_LOG_SPANS").is_ok_and(|v| v == "1");
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_span_events(if spans { FmtSpan::CLOSE } else { FmtSpan::NONE })
        .with_ansi(!on_lambda);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    // Every span the line is in: the request's (with its request_id) on every
                    // line.
                    .with_span_list(true),
            )
            .try_init()
    } else {
        registry.with(layer).try_init()
    };
}

#[cfg(test)]
mod log_level_tests {
    #[test]
    fn lambdas_debug_and_trace_levels_are_dompets_own() {
        // The runtime logs whole events and the SDK request bodies at debug and trace: tokens,
        // secrets and one-time codes.
        assert_eq!(super::lambda_log_filter("TRACE"), "info,dompet=trace");
        assert_eq!(super::lambda_log_filter("DEBUG"), "info,dompet=debug");
        assert_eq!(super::lambda_log_filter("INFO"), "info");
        assert_eq!(super::lambda_log_filter("FATAL"), "error");
        assert_eq!(super::lambda_log_filter(""), "info");
    }

    #[test]
    fn every_lambda_filter_parses_and_keeps_the_runtime_at_info() {
        use tracing::Level;
        use tracing_subscriber::filter::Targets;
        for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", ""] {
            let filter: Targets = super::lambda_log_filter(level).parse().unwrap();
            assert!(
                !filter.would_enable("lambda_runtime", &Level::DEBUG),
                "{level}"
            );
            assert!(
                !filter.would_enable("aws_smithy_runtime", &Level::DEBUG),
                "{level}"
            );
        }
        let debug: Targets = super::lambda_log_filter("DEBUG").parse().unwrap();
        assert!(debug.would_enable("dompet::store", &Level::DEBUG));
        assert!(!debug.would_enable("dompet::store", &Level::TRACE));
    }
}
