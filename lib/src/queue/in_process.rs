//! The standalone server's queue: a channel feeding the worker task in the same process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{QueueDepth, TransferQueue};

#[derive(Clone)]
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<String>,
    waiting: Arc<AtomicU64>,
}

/// The worker's end of the queue.
pub struct TransferReceiver {
    receiver: mpsc::UnboundedReceiver<String>,
    waiting: Arc<AtomicU64>,
}

impl TransferReceiver {
    /// The next transfer id; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<String> {
        let id = self.receiver.recv().await?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(id)
    }

    /// The next transfer id if one is waiting now.
    pub fn try_recv(&mut self) -> Result<String, mpsc::error::TryRecvError> {
        let id = self.receiver.try_recv()?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Ok(id)
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
    async fn enqueue(&self, transfer_id: &str) -> anyhow::Result<()> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.sender.send(transfer_id.to_string()).map_err(|_| {
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
