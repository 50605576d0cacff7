//! The one error type every reconcile and cleanup returns.

use crate::store::StoreError;

/// Why a reconcile or cleanup failed. The runtime logs it with its causes,
/// records it as a `ReconcileFailed` event on the object and retries with
/// backoff; the message is what the operator reads, so it says what failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The object's spec does not decode into its type. Specs in the store
    /// passed validation, so this means a schema and its type disagree.
    #[error("spec does not decode: {0}")]
    Spec(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the real system answered: the Docker Engine, mount(8), a file
    /// the controller reads. Shown as the cause itself.
    #[error(transparent)]
    System(Box<dyn std::error::Error + Send + Sync>),
}

impl ReconcileError {
    /// Wraps a controller's own error; a controller crate implements
    /// `From<ItsError> for ReconcileError` with it so `?` works.
    pub fn system(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ReconcileError::System(Box::new(error))
    }
}
