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

/// The error and its causes on one line, for logs and events. A cause
/// whose text the message already holds is skipped: an error that says
/// its cause (`"interface eth9: {source}"`) and also returns it from
/// `source()` would otherwise read `...: No such device: No such device`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Leaf {
        #[error("No such device (os error 19)")]
        NoDevice,
    }

    /// Says its cause and returns it, as `#[error("..: {source}")]` does.
    #[derive(Debug, thiserror::Error)]
    #[error("interface eth9: {source}")]
    struct SaysItsCause {
        source: Leaf,
    }

    /// Leaves its cause to `source()`.
    #[derive(Debug, thiserror::Error)]
    #[error("setting up the VRRP socket")]
    struct LeavesItsCause {
        #[source]
        source: SaysItsCause,
    }

    #[test]
    fn each_cause_is_said_once() {
        let says = || SaysItsCause {
            source: Leaf::NoDevice,
        };
        assert_eq!(
            error_chain(&says()),
            "interface eth9: No such device (os error 19)"
        );
        assert_eq!(
            error_chain(&LeavesItsCause { source: says() }),
            "setting up the VRRP socket: interface eth9: No such device (os error 19)"
        );
        let wrapped = ReconcileError::system(LeavesItsCause { source: says() });
        assert_eq!(
            error_chain(&wrapped).matches("No such device").count(),
            1,
            "{wrapped}"
        );
    }
}
