//! The typed decode error shared by every codec in the crate.

/// Decoding failed: what went wrong, in which field, at which byte of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} in {field} at byte {offset}")]
pub struct Error {
    /// Offset from the start of the decoded input where the problem was found.
    pub offset: usize,
    /// The field (header, primitive or structure) being decoded.
    pub field: &'static str,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// The kinds of decode failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("unexpected end of input")]
    Truncated,
    #[error("uintvar longer than 5 octets or above 32 bits")]
    UintvarOverflow,
    #[error("integer longer than 8 octets")]
    IntegerOverflow,
    #[error("text without its terminating NUL")]
    Unterminated,
    #[error("unexpected octet {0:#04x}")]
    Unexpected(u8),
    #[error("length {len} exceeds the {available} octets that are left")]
    LengthOverrun { len: u64, available: usize },
    #[error("more than {0} items")]
    TooMany(usize),
    #[error("{0}")]
    Invalid(&'static str),
}

/// The result type of every decoder in this crate.
pub type Result<T> = std::result::Result<T, Error>;
