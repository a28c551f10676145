//! Errors the user caused (bad flags, files, config keys) are `UsageError`s: one sentence naming
//! what is wrong and what would be valid, exit code 2. Everything else is a runtime failure,
//! exit code 1.

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

/// `bail_usage!("...")` returns a `UsageError` from a function returning `anyhow::Result`.
#[macro_export]
macro_rules! bail_usage {
    ($($arg:tt)*) => {
        return Err($crate::error::UsageError::new(format!($($arg)*)).into())
    };
}

/// Exit code for an error chain: 2 when any link is a `UsageError`.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.downcast_ref::<UsageError>().is_some()) {
        2
    } else {
        1
    }
}

/// The engine made no progress for `--engine-stall-timeout`: the model fails and its processes
/// are killed at once (a wedged engine answers no shutdown).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineStalled(pub String);
