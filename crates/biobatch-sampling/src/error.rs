//! The error type of `biobatch-sampling`.

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building or resuming a plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range or inconsistent with another.
    #[error("invalid sampling parameter: {0}")]
    Invalid(String),
    /// A cursor saved from a differently configured plan.
    #[error(
        "cursor does not fit this plan: {what} (cursor {cursor}, plan {plan}); \
         resume with the configuration the cursor was saved from"
    )]
    CursorMismatch {
        /// Which field differs.
        what: &'static str,
        /// The cursor's value.
        cursor: String,
        /// The plan's value.
        plan: String,
    },
    /// A position or epoch outside the plan.
    #[error("position {position} is outside epoch {epoch}, which has {len} positions")]
    OutOfRange {
        /// The epoch.
        epoch: u64,
        /// The position asked for.
        position: u64,
        /// The epoch length.
        len: u64,
    },
    /// The distributed environment is inconsistent or unsafe.
    #[error("distributed setup: {0}")]
    Distributed(String),
}
