//! The single writer: one thread owns the write connection and commits every write queued while
//! the previous commit was being made durable in one transaction (group commit). Each write runs
//! in its own savepoint, so a write that fails is rolled back alone and the others in its batch
//! still commit; every caller hears its own result, and a success only once the transaction
//! holding it is on disk (`synchronous=FULL`: one fsync per batch instead of one per request).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::Context;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

/// At most this many writes share one transaction; a burst larger than that commits in turns.
const MAX_BATCH: usize = 256;

/// A queued write: runs inside the batch's transaction, then waits for the commit's outcome.
trait Job: Send {
    /// Runs the write in its own savepoint. Returns how to answer the caller once the batch
    /// commits, and whether the transaction is still usable afterwards.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (Box<dyn Answer>, bool);
    /// The batch failed before this write ran.
    fn abandon(self: Box<Self>, error: &anyhow::Error);
}

/// A caller's result, held until the batch's commit succeeds or fails.
trait Answer: Send {
    fn send(self: Box<Self>, committed: Result<(), &anyhow::Error>);
}

struct Queued<F, T, E> {
    write: F,
    reply: oneshot::Sender<Result<T, E>>,
}

struct Held<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

const SAVEPOINT: &str = "SAVEPOINT dompet_write";
const RELEASE: &str = "RELEASE dompet_write";
const ROLL_BACK: &str = "ROLLBACK TO dompet_write; RELEASE dompet_write";

impl<F, T, E> Job for Queued<F, T, E>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (Box<dyn Answer>, bool) {
        let Queued { write, reply } = *self;
        if let Err(e) = tx.execute_batch(SAVEPOINT) {
            let error = anyhow::Error::new(e).context("Failed to begin a write");
            return (
                Box::new(Held {
                    result: Err(E::from(error)),
                    reply,
                }),
                false,
            );
        }
        let result = catch_unwind(AssertUnwindSafe(|| write(tx))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(E::from(anyhow::anyhow!("a SQLite write panicked: {what}")))
        });
        let end = if result.is_ok() { RELEASE } else { ROLL_BACK };
        // SQLite rolls the whole transaction back by itself after some errors (I/O, disk full):
        // then nothing of this batch may be reported as written.
        let usable = tx.execute_batch(end).is_ok() && !tx.is_autocommit();
        (Box::new(Held { result, reply }), usable)
    }

    fn abandon(self: Box<Self>, error: &anyhow::Error) {
        let _ = self.reply.send(Err(E::from(anyhow::anyhow!("{error:#}"))));
    }
}

impl<T: Send, E: From<anyhow::Error> + Send> Answer for Held<T, E> {
    fn send(self: Box<Self>, committed: Result<(), &anyhow::Error>) {
        let result = match (self.result, committed) {
            (Ok(_), Err(error)) => Err(E::from(anyhow::anyhow!("{error:#}"))),
            (result, _) => result,
        };
        let _ = self.reply.send(result);
    }
}

/// The handle the store keeps: queues writes for the writer thread.
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> anyhow::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("dompet-sqlite-writer".into())
            .spawn(move || serve(conn, jobs))
            .context("Failed to start the SQLite writer thread")?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Runs `write` in the next batch's transaction; resolves once that batch is committed (or
    /// with the write's own error, which rolled back only its savepoint).
    pub(super) async fn write<F, T, E>(&self, write: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let queue = self
            .queue
            .as_ref()
            .context("the SQLite writer has stopped")?;
        queue
            .send(Box::new(Queued { write, reply }))
            .map_err(|_| anyhow::anyhow!("the SQLite writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the SQLite writer stopped before answering"))?
    }
}

impl Writer {
    /// Closes the queue and waits for the thread to answer what was queued and close the
    /// connection.
    pub(super) fn stop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(mut conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&mut conn, batch);
    }
}

/// One transaction for the whole batch, one savepoint per write, one commit (one fsync).
fn commit(conn: &mut Connection, batch: Vec<Box<dyn Job>>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let error = anyhow::Error::new(e).context("Failed to begin a write transaction");
            for job in batch {
                job.abandon(&error);
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut broken = None;
    for job in jobs.by_ref() {
        let (answer, usable) = job.run(&tx);
        answers.push(answer);
        if !usable {
            broken = Some(anyhow::anyhow!(
                "the write transaction was rolled back by SQLite; nothing in it was written"
            ));
            break;
        }
    }
    let committed = match broken {
        Some(error) => {
            drop(tx);
            Err(error)
        }
        None => tx.commit().context("Failed to commit"),
    };
    let committed: Result<(), &anyhow::Error> = committed.as_ref().map(|_| ());
    for answer in answers {
        answer.send(committed);
    }
    // Writes that never ran because the transaction broke are answered with the same error.
    if let Err(error) = committed {
        for job in jobs {
            job.abandon(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(path: &std::path::Path) -> Vec<i64> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn insert(n: i64) -> impl FnOnce(&Transaction<'_>) -> anyhow::Result<()> + Send + 'static {
        move |tx| {
            tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            Ok(())
        }
    }

    /// Writes queued behind a slow one share a transaction; the one that fails (by an error, a
    /// constraint or a panic) is rolled back alone and every other commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_in_a_batch_fails_alone() {
        let dir = std::env::temp_dir().join(format!("dompet-writer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = std::sync::Arc::new(Writer::start(conn).unwrap());

        // The first write holds the writer until the others are queued behind it (in any order:
        // each outcome below is the same whichever order they run in).
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |tx| {
                        hold.recv().unwrap();
                        insert(1)(tx)
                    })
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = [
            (2, None),
            (3, Some("error")),
            (4, None),
            (1, Some("duplicate")),
            (5, Some("panic")),
            (6, None),
        ]
        .map(|(n, failure)| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |tx| -> anyhow::Result<()> {
                        insert(n)(tx)?;
                        match failure {
                            Some("error") => anyhow::bail!("refused"),
                            Some("panic") => panic!("a bug"),
                            _ => Ok(()),
                        }
                    })
                    .await
            })
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        release.send(()).unwrap();

        assert!(first.await.unwrap().is_ok());
        let mut outcomes = Vec::new();
        for write in queued {
            outcomes.push(write.await.unwrap().map_err(|e| format!("{e:#}")));
        }
        assert!(outcomes[0].is_ok());
        assert_eq!(outcomes[1].as_ref().unwrap_err(), "refused");
        assert!(outcomes[2].is_ok());
        assert!(
            outcomes[3].as_ref().unwrap_err().contains("UNIQUE"),
            "{outcomes:?}"
        );
        assert!(outcomes[4]
            .as_ref()
            .unwrap_err()
            .contains("panicked: a bug"));
        assert!(outcomes[5].is_ok());
        assert_eq!(rows(&path), vec![1, 2, 4, 6]);

        // The writer goes on after a panic, and stops when its handle goes.
        writer.write(insert(7)).await.unwrap();
        drop(std::sync::Arc::into_inner(writer).unwrap());
        assert_eq!(rows(&path), vec![1, 2, 4, 6, 7]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
