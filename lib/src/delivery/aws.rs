//! The AWS delivery: straight to the account's own address or number, never through a shared
//! topic whose subscribers would see every user's code. Email through Amazon SES (v2
//! `SendEmail`, from the sender identity the template is given), SMS through Amazon SNS
//! `Publish` to the phone number (transactional), only to the countries the operator allows:
//! SMS costs money per message, and free sign-up invites SMS pumping.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message as Email};
use aws_sdk_sns::types::MessageAttributeValue;

use super::{Channel, Delivery, Message};

#[derive(Debug, Clone)]
pub struct AwsDelivery {
    ses: aws_sdk_sesv2::Client,
    sns: aws_sdk_sns::Client,
    /// The From address (an SES-verified identity covers it).
    from: String,
    /// E.164 calling codes SMS may go to (`+62`, `+1`); none: no SMS at all.
    sms_countries: Vec<String>,
}

impl AwsDelivery {
    pub fn new(
        ses: aws_sdk_sesv2::Client,
        sns: aws_sdk_sns::Client,
        from: impl Into<String>,
        sms_countries: Vec<String>,
    ) -> Self {
        Self {
            ses,
            sns,
            from: from.into(),
            sms_countries,
        }
    }

    pub async fn from_env(
        from: impl Into<String>,
        sms_countries: Vec<String>,
    ) -> anyhow::Result<Self> {
        let config = crate::aws_config().await?;
        Ok(Self::new(
            aws_sdk_sesv2::Client::new(config),
            aws_sdk_sns::Client::new(config),
            from,
            sms_countries,
        ))
    }

    async fn email(&self, message: &Message) -> anyhow::Result<Option<String>> {
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .context("Failed to build an email")
        };
        let out = self
            .ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(
                EmailContent::builder()
                    .simple(
                        Email::builder()
                            .subject(content(message.subject())?)
                            .body(Body::builder().text(content(&message.text())?).build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .context("SES SendEmail failed")?;
        Ok(out.message_id().map(str::to_string))
    }

    async fn sms(&self, message: &Message) -> anyhow::Result<Option<String>> {
        let number = e164(&message.to, &self.sms_countries).with_context(|| {
            format!(
                "SMS to {} is not enabled (DOMPET_SMS_COUNTRIES: {:?})",
                message.to, self.sms_countries
            )
        })?;
        let out = self
            .sns
            .publish()
            .phone_number(number)
            .message(message.text())
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("Transactional")
                    .build()?,
            )
            .send()
            .await
            .context("SNS Publish (SMS) failed")?;
        Ok(out.message_id().map(str::to_string))
    }
}

/// The number in E.164 when it is in one of `countries`: `+…` as given, or a national number
/// with its trunk 0 (`0812…`) in the first country listed (`+62812…`); `None` otherwise, and
/// for an international prefix (`00…`) or a trunk 0 after the calling code (`+620812…`),
/// which would be charged as an SMS to some other number.
pub fn e164(number: &str, countries: &[String]) -> Option<String> {
    let full = match number.strip_prefix('0') {
        Some(national) if !national.starts_with('0') => {
            format!("{}{national}", countries.first()?)
        }
        Some(_) => return None,
        None => number.to_string(),
    };
    let digits = full.strip_prefix('+')?;
    let plausible = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let country = countries.iter().find(|c| full.starts_with(c.as_str()))?;
    let subscriber = &full[country.len()..];
    (plausible && !subscriber.starts_with('0')).then_some(full)
}

#[async_trait]
impl Delivery for AwsDelivery {
    async fn deliver(&self, message: &Message) -> anyhow::Result<()> {
        let id = match message.channel {
            Channel::Email => self.email(message).await?,
            Channel::Sms => self.sms(message).await?,
        };
        tracing::info!(
            kind = message.kind,
            user = %message.user_id,
            channel = message.channel.as_str(),
            message_id = id.unwrap_or_default(),
            "message sent"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::e164;

    #[test]
    fn numbers_go_out_only_in_e164_to_allowed_countries() {
        let countries = vec!["+62".to_string()];
        assert_eq!(
            e164("006581234567", &countries),
            None,
            "an international prefix"
        );
        assert_eq!(
            e164("+620812345678", &countries),
            None,
            "a trunk 0 after the code"
        );
        let allowed = vec!["+62".to_string(), "+65".to_string()];
        assert_eq!(
            e164("081234567890", &allowed).as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            e164("+6581234567", &allowed).as_deref(),
            Some("+6581234567")
        );
        assert_eq!(
            e164("+15555550100", &allowed),
            None,
            "a country not allowed"
        );
        assert_eq!(e164("081234567890", &[]), None, "no SMS at all");
        assert_eq!(e164("+62 812", &allowed), None);
        assert_eq!(e164("+62", &allowed), None);
        assert_eq!(
            e164("12345678", &allowed),
            None,
            "neither national nor E.164"
        );
    }
}
