//! What a controller keeps of a background task it runs for one object (a
//! Service's prober, a Replication's sync worker): the task, which ends
//! with its owner, and the state the task reports to it.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::task::JoinHandle;

/// A spawned task that is aborted when this handle is dropped, so an
/// object's task never outlives the controller state that owns it.
pub struct OwnedTask(JoinHandle<()>);

impl OwnedTask {
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        OwnedTask(tokio::spawn(task))
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// State a task writes and its controller reads. A task that panicked
/// while holding the lock poisoned it; what it held is still a whole
/// value, and refusing it would fail every later read, so the lock is
/// recovered (as in [`crate::PerObject`]).
pub struct Reported<T>(Arc<Mutex<T>>);

impl<T> Clone for Reported<T> {
    fn clone(&self) -> Self {
        Reported(Arc::clone(&self.0))
    }
}

impl<T> Reported<T> {
    pub fn new(value: T) -> Self {
        Reported(Arc::new(Mutex::new(value)))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the latest report, so the lock is released at once.
    pub fn latest(&self) -> T
    where
        T: Clone,
    {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_poisoned_by_a_panicking_writer_is_still_read() {
        let reported = Reported::new(1);
        let writer = reported.clone();
        let panicked = std::thread::spawn(move || {
            *writer.lock() = 2;
            panic!("the task failed while holding the report");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(reported.latest(), 2);
    }

    #[tokio::test]
    async fn dropping_the_handle_ends_the_task() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
        let task = OwnedTask::spawn(async move {
            let _sender = sender;
            std::future::pending::<()>().await;
        });
        drop(task);
        // The task's end drops its sender, which closes the channel.
        assert_eq!(receiver.recv().await, None);
    }
}
