//! The transfer queue: after a transfer is reserved its id is enqueued; the worker settles it.
//! Delivery is at least once (settling is idempotent); a lost enqueue is recovered by the sweep.

use async_trait::async_trait;

mod in_process;
#[cfg(feature = "sqs")]
mod sqs;

pub use in_process::{InProcessQueue, TransferReceiver};
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;

#[async_trait]
pub trait TransferQueue: Send + Sync + 'static {
    async fn enqueue(&self, message: &TransferMessage) -> anyhow::Result<()>;

    /// Enqueues many at once (the sweep); adapters with a batch call override this.
    async fn enqueue_batch(&self, messages: &[TransferMessage]) -> anyhow::Result<()> {
        for m in messages {
            self.enqueue(m).await?;
        }
        Ok(())
    }

    /// How many transfers wait, where the queue can tell.
    async fn depth(&self) -> anyhow::Result<Option<QueueDepth>> {
        Ok(None)
    }
}

/// What a queue holds now (approximate on SQS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Waiting to be delivered.
    pub waiting: u64,
    /// Delivered and not yet acknowledged, where known.
    pub in_flight: Option<u64>,
    /// On the dead-letter queue, where there is one.
    pub dead_letter: Option<u64>,
}

/// The message body on the queue: the transfer, and its recipient when the sender of the
/// message knows it (so settling can read the recipient's account with the transfer in one
/// round trip; a message without it, or with a wrong one, still settles correctly).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferMessage {
    pub transfer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user: Option<String>,
    /// How many times the server's in-process worker has tried it (SQS counts its own
    /// receives).
    #[serde(skip)]
    pub attempts: u32,
    /// When the queue took it (SQS's `SentTimestamp`), milliseconds since the epoch, if known.
    #[serde(skip)]
    pub sent_at: Option<i64>,
}

impl TransferMessage {
    /// A message naming only the transfer (the sweep's).
    pub fn new(transfer_id: impl Into<String>) -> Self {
        Self {
            transfer_id: transfer_id.into(),
            to_user: None,
            attempts: 0,
            sent_at: None,
        }
    }
}

/// A host without a queue (the functions that never enqueue).
pub struct NoQueue;

#[async_trait]
impl TransferQueue for NoQueue {
    async fn enqueue(&self, _: &TransferMessage) -> anyhow::Result<()> {
        anyhow::bail!("this host has no transfer queue (set DOMPET_TRANSFER_QUEUE_URL)")
    }
}
