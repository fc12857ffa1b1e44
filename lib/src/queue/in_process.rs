//! The standalone server's queue: a channel feeding the worker task in the same process.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::TransferQueue;

#[derive(Clone)]
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<String>,
}

pub type TransferReceiver = mpsc::UnboundedReceiver<String>;

impl InProcessQueue {
    /// The queue and the receiving end the worker reads.
    pub fn new() -> (Self, TransferReceiver) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }
}

#[async_trait]
impl TransferQueue for InProcessQueue {
    async fn enqueue(&self, transfer_id: &str) -> anyhow::Result<()> {
        self.sender
            .send(transfer_id.to_string())
            .map_err(|_| anyhow::anyhow!("the transfer worker is not running"))
    }
}
