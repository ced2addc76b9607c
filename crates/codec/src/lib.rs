//! Sans-IO codecs for the MMS interfaces: bytes in, typed values out, and back.
//!
//! - [`wsp`]: the WSP (WAP-230) primitives, charsets, content types, header tables and multipart
//!   bodies that the MMS encapsulation is built on.
//! - [`mms`]: the MMS encapsulation (OMA MMS 1.0 to 1.3), one typed struct per PDU.
//! - [`push`]: the connectionless WSP push PDU that carries an `m-notification.ind`.
//! - [`sms`]: WDP over SMS: user-data headers, segmentation and reassembly, TPDU framing.
//!
//! Nothing here performs I/O, logs or panics: malformed input is answered with an [`Error`]
//! that names the field and the byte offset where decoding stopped.

pub mod error;
pub mod mms;
pub mod push;
pub mod sms;
pub mod wsp;

pub use error::{Error, ErrorKind, Result};
