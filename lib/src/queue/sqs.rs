//! Amazon SQS: one message per transfer, body `{"transfer_id": "…"}`.

use anyhow::Context;
use async_trait::async_trait;

use super::{TransferMessage, TransferQueue};

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub async fn from_env(queue_url: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(aws_sdk_sqs::Client::new(&config), queue_url)
    }
}

#[async_trait]
impl TransferQueue for SqsQueue {
    async fn enqueue(&self, transfer_id: &str) -> anyhow::Result<()> {
        let body = serde_json::to_string(&TransferMessage {
            transfer_id: transfer_id.to_string(),
        })?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .with_context(|| format!("Failed to enqueue transfer {transfer_id}"))?;
        Ok(())
    }
}
