//! WSP (WAP-230) encodings that the MMS encapsulation and the WAP push are built on.

pub mod charset;
pub mod content_type;
pub mod headers;
pub mod multipart;
pub mod reader;
pub mod text;
pub mod writer;

pub use charset::Charset;
pub use content_type::{ContentType, Params};
pub use headers::{HeaderName, RawHeader};
pub use multipart::{ContentDisposition, Part, PartHeaders};
pub use reader::Reader;
pub use text::EncodedString;
