//! Graceful shutdown: signal handling and the drain deadline.
//!
//! Every connection task, and every upgraded tunnel, owns a [`Watcher`]. A watcher resolves when
//! shutdown starts, and dropping it signals the [`Drain`] that one more task has finished.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// Waits for SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = interrupt => tracing::info!(signal = "SIGINT", "shutdown signal received"),
        _ = terminate => tracing::info!(signal = "SIGTERM", "shutdown signal received"),
    }
}

/// Starts shutdown for every watcher and waits for them to finish.
pub struct Drain {
    started: watch::Sender<bool>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

/// A task's shutdown handle: it signals when to stop, and marks the task finished when dropped.
#[derive(Clone)]
pub struct Watcher {
    started: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
}

impl Drain {
    pub fn new() -> Self {
        let (started, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        Drain {
            started,
            done_tx,
            done_rx,
        }
    }

    /// Returns a watcher for one more task.
    pub fn watcher(&self) -> Watcher {
        Watcher {
            started: self.started.subscribe(),
            _done: self.done_tx.clone(),
        }
    }

    /// Tells every watcher to stop and waits up to `grace` for all of them to be dropped.
    /// Returns false when the deadline passed first.
    pub async fn drain(self, grace: Duration) -> bool {
        let Drain {
            started,
            done_tx,
            mut done_rx,
        } = self;

        started.send_replace(true);
        drop(done_tx);
        tokio::time::timeout(grace, done_rx.recv()).await.is_ok()
    }
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Watcher {
    /// Resolves once shutdown has started.
    pub async fn started(&mut self) {
        if self.started.wait_for(|started| *started).await.is_err() {
            // The drain was dropped without starting: nothing will ever ask this task to stop.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_watchers() {
        let drain = Drain::new();
        let mut watcher = drain.watcher();
        let task = tokio::spawn(async move {
            watcher.started().await;
        });

        assert!(drain.drain(Duration::from_secs(30)).await);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn drain_reports_expired_deadline() {
        let drain = Drain::new();
        let _stuck = drain.watcher();

        assert!(!drain.drain(Duration::from_millis(10)).await);
    }
}
