//! WDP over SMS (WAP-259 over 3GPP TS 23.040) for WAP Push: the user-data header elements that
//! address ports and concatenate segments ([`udh`]), splitting a push into short messages and
//! reassembling them ([`segment`](mod@segment)), and the SMS-DELIVER / SMS-SUBMIT framing
//! around them ([`tpdu`]).

pub mod segment;
pub mod tpdu;
pub mod udh;

pub use segment::{
    ConcatRef, MAX_USER_DATA, Reassembled, Reassembler, SegmentError, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, segment,
};
pub use tpdu::{Address, Direction, SmsDeliver, SmsSubmit, Tpdu, Validity, decode_with_smsc, wap_push_deliver};
pub use udh::{Concat, InformationElement, UserData, UserDataHeader};
