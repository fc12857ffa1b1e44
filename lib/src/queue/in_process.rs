//! The standalone server's queue: a channel feeding the worker task in the same process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{QueueDepth, TransferMessage, TransferQueue};

#[derive(Clone)]
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<TransferMessage>,
    waiting: Arc<AtomicU64>,
}

/// The worker's end of the queue.
pub struct TransferReceiver {
    receiver: mpsc::UnboundedReceiver<TransferMessage>,
    waiting: Arc<AtomicU64>,
}

impl TransferReceiver {
    /// The next message; `None` once every sender is gone.
    pub async fn recv_message(&mut self) -> Option<TransferMessage> {
        let message = self.receiver.recv().await?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(message)
    }

    /// The next message if one is waiting now.
    pub fn try_recv_message(&mut self) -> Option<TransferMessage> {
        let message = self.receiver.try_recv().ok()?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(message)
    }

    /// The next message's transfer id; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<String> {
        Some(self.recv_message().await?.transfer_id)
    }

    /// The next transfer id if one is waiting now.
    pub fn try_recv(&mut self) -> Result<String, mpsc::error::TryRecvError> {
        let message = self.receiver.try_recv()?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Ok(message.transfer_id)
    }
}

impl InProcessQueue {
    /// The queue and the receiving end the worker reads.
    pub fn new() -> (Self, TransferReceiver) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicU64::new(0));
        (
            Self {
                sender,
                waiting: waiting.clone(),
            },
            TransferReceiver { receiver, waiting },
        )
    }
}

#[async_trait]
impl TransferQueue for InProcessQueue {
    async fn enqueue(&self, message: &TransferMessage) -> anyhow::Result<()> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.sender.send(message.clone()).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            anyhow::anyhow!("the transfer worker is not running")
        })
    }

    async fn depth(&self) -> anyhow::Result<Option<QueueDepth>> {
        Ok(Some(QueueDepth {
            waiting: self.waiting.load(Ordering::Relaxed),
            in_flight: None,
            dead_letter: None,
        }))
    }
}
