//! Amazon SQS: one message per transfer, body `{"transfer_id": "…"}`.

use anyhow::Context;
use async_trait::async_trait;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{QueueDepth, TransferMessage, TransferQueue};

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_url: None,
        }
    }

    /// The dead-letter queue whose depth `depth` reports too.
    pub fn with_dead_letter(mut self, url: Option<String>) -> Self {
        self.dead_letter_url = url;
        self
    }

    /// `ApproximateNumberOfMessages` and `…NotVisible` of a queue.
    async fn counts(&self, url: &str) -> anyhow::Result<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .with_context(|| format!("Failed to read the attributes of {url}"))?;
        let read = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            read(QueueAttributeName::ApproximateNumberOfMessages),
            read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    pub async fn from_env(queue_url: impl Into<String>) -> anyhow::Result<Self> {
        Ok(Self::new(
            aws_sdk_sqs::Client::new(crate::aws_config().await?),
            queue_url,
        ))
    }
}

#[async_trait]
impl TransferQueue for SqsQueue {
    async fn enqueue(&self, message: &TransferMessage) -> anyhow::Result<()> {
        let body = serde_json::to_string(message)?;
        let transfer_id = &message.transfer_id;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .with_context(|| format!("Failed to enqueue transfer {transfer_id}"))?;
        Ok(())
    }

    async fn depth(&self) -> anyhow::Result<Option<QueueDepth>> {
        let (waiting, in_flight) = self.counts(&self.queue_url).await?;
        let dead_letter = match &self.dead_letter_url {
            Some(url) => Some(self.counts(url).await?.0),
            None => None,
        };
        Ok(Some(QueueDepth {
            waiting,
            in_flight: Some(in_flight),
            dead_letter,
        }))
    }

    /// `SendMessageBatch`, ten messages a call (the most SQS takes).
    async fn enqueue_batch(&self, messages: &[TransferMessage]) -> anyhow::Result<()> {
        for chunk in messages.chunks(10) {
            let mut request = self.client.send_message_batch().queue_url(&self.queue_url);
            for (i, message) in chunk.iter().enumerate() {
                let body = serde_json::to_string(message)?;
                request = request.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .context("Failed to build a batch entry")?,
                );
            }
            let out = request
                .send()
                .await
                .context("Failed to enqueue a batch of transfers")?;
            if let Some(failed) = out.failed().first() {
                anyhow::bail!(
                    "SQS refused {} of {} messages of a batch (first: {} {})",
                    out.failed().len(),
                    chunk.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::shared::IntoShared;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// An HTTP client that keeps each request and answers `body` (SQS's JSON protocol).
    #[derive(Debug, Clone)]
    struct Capture {
        requests: Arc<Mutex<Vec<HttpRequest>>>,
        body: &'static str,
    }

    impl HttpConnector for Capture {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.requests.lock().unwrap().push(request);
            let response = http::Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.0")
                .body(SdkBody::from(self.body))
                .expect("a valid response");
            let response = HttpResponse::try_from(response).expect("an HTTP 1 response");
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    impl HttpClient for Capture {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.clone().into_shared()
        }
    }

    #[tokio::test]
    async fn enqueue_sends_one_message_with_the_transfer_id_to_the_queue_url() {
        let http_client = Capture {
            requests: Arc::default(),
            body: r#"{"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#,
        };
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
            .http_client(http_client.clone())
            .build();
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/dompet-TransferQueue";
        let queue = SqsQueue::new(aws_sdk_sqs::Client::from_conf(config), url);

        queue
            .enqueue(&TransferMessage::new(
                "0b6f5c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d",
            ))
            .await
            .unwrap();

        let requests = http_client.requests.lock().unwrap();
        assert_eq!(requests.len(), 1, "one call");
        let request = &requests[0];
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.headers().get("x-amz-target"),
            Some("AmazonSQS.SendMessage")
        );
        let body: serde_json::Value =
            serde_json::from_slice(request.body().bytes().unwrap()).unwrap();
        assert_eq!(body["QueueUrl"], url);
        let message: TransferMessage =
            serde_json::from_str(body["MessageBody"].as_str().unwrap()).unwrap();
        assert_eq!(message.transfer_id, "0b6f5c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d");
    }
}
