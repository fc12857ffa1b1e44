//! The AWS delivery: each message published to an SNS topic (the template's `ResetTopic`).
//! The body is the message as JSON; the attributes `kind` and `channel` let a subscription
//! filter (email subscribers take `channel = email`, an SMS bridge `channel = sms`).

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{Delivery, Message};

#[derive(Debug, Clone)]
pub struct SnsDelivery {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsDelivery {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub async fn from_env(topic_arn: impl Into<String>) -> anyhow::Result<Self> {
        Ok(Self::new(
            aws_sdk_sns::Client::new(crate::aws_config().await?),
            topic_arn,
        ))
    }
}

fn attribute(value: &str) -> anyhow::Result<MessageAttributeValue> {
    Ok(MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()?)
}

#[async_trait]
impl Delivery for SnsDelivery {
    async fn deliver(&self, message: &Message) -> anyhow::Result<()> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(message.subject())
            .message(serde_json::to_string(message)?)
            .message_attributes("kind", attribute(message.kind)?)
            .message_attributes("channel", attribute(message.channel.as_str())?)
            .send()
            .await
            .context("SNS Publish failed")?;
        tracing::info!(
            kind = message.kind,
            user = %message.user_id,
            channel = message.channel.as_str(),
            message_id = out.message_id().unwrap_or_default(),
            "message published"
        );
        Ok(())
    }
}
