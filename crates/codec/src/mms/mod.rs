//! The MMS encapsulation (OMA-MMS-ENC 1.0 to 1.3): typed PDUs, header fields, values and
//! addresses, decoded from and encoded to the binary form used on MM1.

pub mod address;
mod codecs;
pub mod describe;
pub mod header;
pub mod message;
pub mod pdu;
pub mod values;

pub use address::{Address, AddressKind};
pub use header::{Header, Indexed};
pub use message::{Body, BodyData, Message};
pub use pdu::*;
pub use values::*;

/// Decodes an MMS PDU; shorthand for [`Message::decode`].
pub fn decode(bytes: &[u8]) -> crate::Result<Message<'_>> {
    Message::decode(bytes)
}
