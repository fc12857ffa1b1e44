//! Lambda function `pre-traffic`: CodeDeploy's hook before a new version of an HTTP function
//! takes traffic. It finds the version the deployment is about to shift to, invokes it with a
//! `GET` of every route without credentials (`dompet::http::probe`: read-only), requires it to
//! serve exactly its own function's routes (which function each deployed one is comes from
//! `DOMPET_HOOK_FUNCTIONS`), and reports `Succeeded` or `Failed` to CodeDeploy, which rolls the
//! deployment back on `Failed`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;

use dompet::http::probe;

/// What CodeDeploy sends a lifecycle hook.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HookEvent {
    deployment_id: String,
    lifecycle_event_hook_execution_id: String,
}

struct Clients {
    deploy: aws_sdk_codedeploy::Client,
    lambda: aws_sdk_lambda::Client,
    /// The HTTP functions by their deployed name.
    targets: BTreeMap<String, &'static dompet::http::Function>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    let config = dompet::aws_config().await?;
    let targets = probe::targets(&std::env::var(probe::TARGETS).unwrap_or_default())?;
    let clients = Clients {
        deploy: aws_sdk_codedeploy::Client::new(config),
        lambda: aws_sdk_lambda::Client::new(config),
        targets,
    };
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<HookEvent>| async move {
        let hook = event.payload;
        let verdict = check(clients, &hook.deployment_id).await;
        let status = match &verdict {
            Ok(checked) => {
                tracing::info!(deployment = %hook.deployment_id, checked, "new versions answer as they should");
                LifecycleEventStatus::Succeeded
            }
            Err(e) => {
                tracing::error!(deployment = %hook.deployment_id, error = format!("{e:#}"), "the new version failed its check");
                LifecycleEventStatus::Failed
            }
        };
        clients
            .deploy
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&hook.deployment_id)
            .lifecycle_event_hook_execution_id(&hook.lifecycle_event_hook_execution_id)
            .status(status.clone())
            .send()
            .await
            .context("reporting the verdict to CodeDeploy")?;
        Ok::<_, Error>(serde_json::json!({ "status": status.as_str() }))
    }))
    .await
}

/// Checks every function version the deployment shifts traffic to; returns how many.
async fn check(clients: &Clients, deployment_id: &str) -> anyhow::Result<usize> {
    let targets = clients
        .deploy
        .list_deployment_targets()
        .deployment_id(deployment_id)
        .send()
        .await
        .context("listing the deployment's targets")?;
    let mut checked = 0;
    for target_id in targets.target_ids() {
        let target = clients
            .deploy
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(target_id)
            .send()
            .await
            .context("reading a deployment target")?;
        let Some(info) = target
            .deployment_target()
            .and_then(|t| t.lambda_target())
            .and_then(|t| t.lambda_function_info())
        else {
            continue;
        };
        let (Some(function), Some(version)) = (info.function_name(), info.target_version()) else {
            bail!("deployment target {target_id} names no function version");
        };
        check_version(clients, function, version)
            .await
            .with_context(|| format!("{function} version {version}"))?;
        checked += 1;
    }
    if checked == 0 {
        bail!("the deployment has no Lambda function target");
    }
    Ok(checked)
}

/// Invokes `function`:`version` with [`probe::event`] of every path, judges each answer, and
/// requires the routes it serves to be exactly its own.
async fn check_version(clients: &Clients, function: &str, version: &str) -> anyhow::Result<()> {
    let Some(expected) = clients.targets.get(function) else {
        bail!("{} does not name this function", probe::TARGETS);
    };
    let mut answers = Vec::new();
    for path in probe::paths() {
        let out = clients
            .lambda
            .invoke()
            .function_name(function)
            .qualifier(version)
            .payload(aws_sdk_lambda::primitives::Blob::new(
                probe::event(&path).to_string(),
            ))
            .send()
            .await
            .with_context(|| format!("invoking it with GET {path}"))?;
        let payload = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(error) = out.function_error() {
            bail!(
                "GET {path}: the function failed ({error}): {}",
                String::from_utf8_lossy(payload)
            );
        }
        let (status, body) = probe::answer(payload).map_err(anyhow::Error::msg)?;
        answers.push((path, status, body));
    }
    let served = probe::served(answers).map_err(anyhow::Error::msg)?;
    probe::serves_exactly(expected, &served).map_err(anyhow::Error::msg)
}
