//! MMS header fields (OMA-MMS-ENC §7.3, assigned numbers §7.4) as one typed enum, with the
//! table that ties each field to its number, its name and its value codec.

use super::address::Address;
use super::codecs::*;
use super::describe::Describe;
use super::values::*;
use crate::error::{ErrorKind, Result};
use crate::wsp::reader::{Reader, ValueForm};
use crate::wsp::{EncodedString, writer};

/// Field numbers that the PDU decoder treats specially.
pub mod code {
    pub const CONTENT_LOCATION: u8 = 0x03;
    pub const CONTENT_TYPE: u8 = 0x04;
    pub const DATE: u8 = 0x05;
    pub const MESSAGE_TYPE: u8 = 0x0C;
    pub const RESPONSE_STATUS: u8 = 0x12;
    pub const RESPONSE_TEXT: u8 = 0x13;
}

/// A value in the Status-count form of m-delete-conf and m-mbox-delete-conf (§7.3.10, §7.3.48,
/// §7.3.49): which of the request's Content-Locations it answers, and the value itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub index: u64,
    pub header: Box<Header>,
}

macro_rules! mms_headers {
    ($( $Variant:ident($Ty:ty) = $code:literal, $name:literal, $codec:ident; )*) => {
        /// One MMS header field with its typed value.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Header {
            $( $Variant($Ty), )*
            /// A value in the Status-count form (delete confirmations).
            Indexed(Indexed),
            /// A well-known field whose value could not be typed, kept as encoded.
            Unknown { code: u8, value: Vec<u8> },
            /// An Application-header: a textual name and a text value.
            Application { name: String, value: String },
        }

        impl Header {
            /// The assigned number, for well-known fields.
            pub fn code(&self) -> Option<u8> {
                match self {
                    $( Header::$Variant(_) => Some($code), )*
                    Header::Indexed(i) => i.header.code(),
                    Header::Unknown { code, .. } => Some(*code),
                    Header::Application { .. } => None,
                }
            }

            /// The field name as the spec writes it.
            pub fn name(&self) -> String {
                match self {
                    Header::Application { name, .. } => name.clone(),
                    Header::Indexed(i) => i.header.name(),
                    other => field_name(other.code().unwrap_or(0xFF)),
                }
            }

            /// The value as text for people: names for enumerations, dates in UTC.
            pub fn value_text(&self) -> String {
                match self {
                    $( Header::$Variant(v) => v.describe($code), )*
                    Header::Indexed(i) => format!("[{}] {}", i.index, i.header.value_text()),
                    Header::Unknown { value, .. } => value.iter().map(|b| format!("{b:02x}")).collect(),
                    Header::Application { value, .. } => value.clone(),
                }
            }

            fn decode_typed(code: u8, r: &mut Reader<'_>) -> Option<Result<Header>> {
                Some(match code {
                    $( $code => $codec::decode(r).map(Header::$Variant), )*
                    _ => return None,
                })
            }

            fn encode_value(&self, out: &mut Vec<u8>) {
                match self {
                    $( Header::$Variant(v) => $codec::encode(v, out), )*
                    Header::Indexed(i) => writer::length_prefixed(out, |w| {
                        writer::integer(w, i.index);
                        i.header.encode_value(w);
                    }),
                    Header::Unknown { value, .. } => out.extend_from_slice(value),
                    Header::Application { value, .. } => writer::text_string(out, value.as_bytes()),
                }
            }
        }

        /// The name of a well-known MMS field number.
        pub fn field_name(code: u8) -> String {
            match code {
                $( $code => $name.to_owned(), )*
                code::CONTENT_TYPE => "Content-Type".to_owned(),
                code::MESSAGE_TYPE => "X-Mms-Message-Type".to_owned(),
                other => format!("X-Mms-Field-{other:#04x}"),
            }
        }
    };
}

mms_headers! {
    Bcc(Address) = 0x01, "Bcc", address;
    Cc(Address) = 0x02, "Cc", address;
    ContentLocation(String) = 0x03, "X-Mms-Content-Location", text;
    Date(u64) = 0x05, "Date", long;
    DeliveryReport(bool) = 0x06, "X-Mms-Delivery-Report", yes_no;
    DeliveryTime(TimeValue) = 0x07, "X-Mms-Delivery-Time", time;
    Expiry(TimeValue) = 0x08, "X-Mms-Expiry", time;
    From(Sender) = 0x09, "From", sender;
    MessageClass(MessageClass) = 0x0A, "X-Mms-Message-Class", message_class;
    MessageId(String) = 0x0B, "Message-ID", text;
    MmsVersion(Version) = 0x0D, "X-Mms-MMS-Version", version;
    MessageSize(u64) = 0x0E, "X-Mms-Message-Size", long;
    Priority(Priority) = 0x0F, "X-Mms-Priority", octet;
    ReadReport(bool) = 0x10, "X-Mms-Read-Report", yes_no;
    ReportAllowed(bool) = 0x11, "X-Mms-Report-Allowed", yes_no;
    ResponseStatus(ResponseStatus) = 0x12, "X-Mms-Response-Status", octet;
    ResponseText(EncodedString) = 0x13, "X-Mms-Response-Text", encoded;
    SenderVisibility(SenderVisibility) = 0x14, "X-Mms-Sender-Visibility", octet;
    Status(Status) = 0x15, "X-Mms-Status", octet;
    Subject(EncodedString) = 0x16, "Subject", encoded;
    To(Address) = 0x17, "To", address;
    TransactionId(String) = 0x18, "X-Mms-Transaction-Id", text;
    RetrieveStatus(RetrieveStatus) = 0x19, "X-Mms-Retrieve-Status", octet;
    RetrieveText(EncodedString) = 0x1A, "X-Mms-Retrieve-Text", encoded;
    ReadStatus(ReadStatus) = 0x1B, "X-Mms-Read-Status", octet;
    ReplyCharging(ReplyCharging) = 0x1C, "X-Mms-Reply-Charging", octet;
    ReplyChargingDeadline(TimeValue) = 0x1D, "X-Mms-Reply-Charging-Deadline", time;
    ReplyChargingId(String) = 0x1E, "X-Mms-Reply-Charging-ID", text;
    ReplyChargingSize(u64) = 0x1F, "X-Mms-Reply-Charging-Size", long;
    PreviouslySentBy(PreviouslySentBy) = 0x20, "X-Mms-Previously-Sent-By", previously_sent_by;
    PreviouslySentDate(PreviouslySentDate) = 0x21, "X-Mms-Previously-Sent-Date", previously_sent_date;
    Store(bool) = 0x22, "X-Mms-Store", yes_no;
    MmState(MmState) = 0x23, "X-Mms-MM-State", octet;
    MmFlags(MmFlags) = 0x24, "X-Mms-MM-Flags", mm_flags;
    StoreStatus(StoreStatus) = 0x25, "X-Mms-Store-Status", octet;
    StoreStatusText(EncodedString) = 0x26, "X-Mms-Store-Status-Text", encoded;
    Stored(bool) = 0x27, "X-Mms-Stored", yes_no;
    Attributes(u8) = 0x28, "X-Mms-Attributes", field_name;
    Totals(bool) = 0x29, "X-Mms-Totals", yes_no;
    MboxTotals(Quota) = 0x2A, "X-Mms-Mbox-Totals", quota;
    Quotas(bool) = 0x2B, "X-Mms-Quotas", yes_no;
    MboxQuotas(Quota) = 0x2C, "X-Mms-Mbox-Quotas", quota;
    MessageCount(u64) = 0x2D, "X-Mms-Message-Count", integer;
    Start(u64) = 0x2F, "X-Mms-Start", integer;
    DistributionIndicator(bool) = 0x31, "X-Mms-Distribution-Indicator", yes_no;
    ElementDescriptor(Box<ElementDescriptor>) = 0x32, "X-Mms-Element-Descriptor", element_descriptor;
    Limit(u64) = 0x33, "X-Mms-Limit", integer;
    RecommendedRetrievalMode(RetrievalMode) = 0x34, "X-Mms-Recommended-Retrieval-Mode", octet;
    RecommendedRetrievalModeText(EncodedString) = 0x35, "X-Mms-Recommended-Retrieval-Mode-Text", encoded;
    StatusText(EncodedString) = 0x36, "X-Mms-Status-Text", encoded;
    ApplicId(String) = 0x37, "X-Mms-Applic-ID", text;
    ReplyApplicId(String) = 0x38, "X-Mms-Reply-Applic-ID", text;
    AuxApplicInfo(String) = 0x39, "X-Mms-Aux-Applic-Info", text;
    ContentClass(ContentClass) = 0x3A, "X-Mms-Content-Class", octet;
    DrmContent(bool) = 0x3B, "X-Mms-DRM-Content", yes_no;
    AdaptationAllowed(bool) = 0x3C, "X-Mms-Adaptation-Allowed", yes_no;
    ReplaceId(String) = 0x3D, "X-Mms-Replace-ID", text;
    CancelId(String) = 0x3E, "X-Mms-Cancel-ID", text;
    CancelStatus(CancelStatus) = 0x3F, "X-Mms-Cancel-Status", octet;
}

impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name(), self.value_text())
    }
}

impl Header {
    /// Decodes the value of well-known field `code`. A value that does not fit the field's
    /// grammar (an unassigned token, say) is kept raw rather than failing the whole PDU;
    /// `indexed` selects the Status-count form that delete confirmations use.
    ///
    /// A typed value must span exactly the octets that the generic first-octet rule gives the
    /// field; otherwise (text that starts with a length octet, say) the field is kept raw, so
    /// what follows is read the same way however it is re-encoded.
    pub fn decode(code: u8, r: &mut Reader<'_>, indexed: bool) -> Result<Header> {
        let mut probe = r.clone();
        let raw = probe.skip_value("header value")?;
        let is_length = matches!(r.form("header value")?, ValueForm::ShortLength(_) | ValueForm::LengthQuote);
        let status_count_form = indexed
            && is_length
            && matches!(code, code::CONTENT_LOCATION | code::RESPONSE_STATUS | code::RESPONSE_TEXT);
        let typed = if status_count_form { Some(Self::decode_indexed(code, r)) } else { Self::decode_typed(code, r) };
        match typed {
            Some(Ok(header)) if r.offset() == probe.offset() => Ok(header),
            _ => {
                *r = probe;
                Ok(Header::Unknown { code, value: raw.to_vec() })
            }
        }
    }

    fn decode_indexed(code: u8, r: &mut Reader<'_>) -> Result<Header> {
        let mut v = r.length_prefixed("status count")?;
        let index = v.integer("status count")?;
        let header = match Self::decode_typed(code, &mut v) {
            Some(header) => header?,
            None => return Err(v.error("status count", ErrorKind::Invalid("field has no Status-count form"))),
        };
        Ok(Header::Indexed(Indexed { index, header: Box::new(header) }))
    }

    /// Appends the field: its name (number or text) and its value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match (self, self.code()) {
            (Header::Application { name, .. }, _) => writer::token_text(out, name.as_bytes()),
            (_, Some(code)) => writer::short_integer(out, code),
            (_, None) => {}
        }
        self.encode_value(out);
    }
}
