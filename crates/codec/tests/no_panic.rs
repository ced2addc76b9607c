//! Property tests for the decoders' robustness promises. `Message::decode`, `Push::decode`, the
//! SMS `UserData` and `Tpdu` decoders and the WSP `Reader` primitives never panic and always
//! finish on any input (arbitrary bytes, and mutations of valid PDUs), and their errors point
//! inside the input. Whatever decodes survives decode -> encode -> decode unchanged; generated
//! typed PDUs survive encode -> decode; a segmented push reassembles; the reassembler stays
//! within its bound.
//!
//! Cases default to 512 per property so the suite stays quick in debug builds; set
//! `PROPTEST_CASES` to search harder.

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use tern_codec::mms::{
    Address, Body, BodyData, DeliveryInd, Message, MessageClass, NotificationInd, NotifyRespInd, Priority,
    RetrieveConf, SendReq, Sender, Status, TimeValue, Version,
};
use tern_codec::push::Push;
use tern_codec::sms::{
    self, Concat, ConcatRef, Direction, InformationElement, Reassembler, Tpdu, UserData, UserDataHeader, WAP_PUSH_PORT,
    WAP_PUSH_SOURCE_PORT,
};
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part, Reader, writer};

/// Far above what decoding a few kilobytes takes even in a debug build: running out of it
/// means a decoder that loops without consuming input.
const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    // Failures are reported by input in the test output; a regressions file would land in the
    // source tree.
    config.failure_persistence = None;
    config
}

/// Runs `decode` on a copy of `bytes` on a worker thread, so that a decoder that never
/// returns fails the test instead of hanging it.
fn in_time<T, F>(bytes: &[u8], decode: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&[u8]) -> T + Send + 'static,
{
    let input = bytes.to_vec();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // The receiver is gone only after the deadline, when the test has already failed.
        let _ = tx.send(decode(&input));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            panic!("decode did not finish within {DEADLINE:?} on {bytes:02x?}")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("decode panicked on {bytes:02x?}"),
    }
}

/// `Message::decode` under the deadline; the result is made owned to cross the thread boundary.
fn decode_in_time(bytes: &[u8]) -> tern_codec::Result<Message<'static>> {
    in_time(bytes, |b| Message::decode(b).map(Message::into_owned))
}

/// The promise every decoder makes about its errors.
fn assert_offset_inside(e: &tern_codec::Error, input: &[u8]) {
    assert!(e.offset <= input.len(), "error offset {} beyond the {} input bytes: {e}", e.offset, input.len());
}

/// Decodes, checking the promises that hold for every input; `Some` when it decoded.
fn decode_checked(bytes: &[u8]) -> Option<Message<'static>> {
    decode_in_time(bytes).inspect_err(|e| assert_offset_inside(e, bytes)).ok()
}

fn phone(digits: &str) -> Address {
    Address::phone(&format!("+1555{digits}"))
}

fn part(content_type: ContentType, id: &str, location: &str, data: Vec<u8>) -> Part<'static> {
    let mut part = Part::new(content_type, data);
    part.headers.content_id = Some(format!("<{id}>"));
    part.headers.content_location = Some(location.to_owned());
    part
}

const SMIL: &[u8] = b"<smil><body><par><img src=\"a.jpg\"/></par></body></smil>";

fn text_utf8() -> ContentType {
    ContentType::new("text/plain").with_charset(Charset::UTF_8)
}

fn related() -> ContentType {
    let mut ct = ContentType::new("application/vnd.wap.multipart.related");
    ct.params.related_type = Some("application/smil".to_owned());
    ct.params.start = Some("<smil>".to_owned());
    ct
}

fn seed_notification() -> Vec<u8> {
    let pdu = NotificationInd {
        transaction_id: Some("T0123456789".to_owned()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::Address(phone("0100001"))),
        subject: Some(EncodedString::auto("Привет from the beach")),
        message_class: Some(MessageClass::Personal),
        message_size: Some(48_213),
        expiry: Some(TimeValue::Relative(604_800)),
        content_location: Some("http://mmsc.example.net/m/0123456789abcdef0123456789abcdef".to_owned()),
        ..Default::default()
    };
    Message::new(pdu).encode()
}

fn seed_send_req() -> Vec<u8> {
    let pdu = SendReq {
        transaction_id: Some("send-1".to_owned()),
        mms_version: Some(Version::V1_3),
        from: Some(Sender::InsertAddress),
        to: vec![phone("0100002"), phone("0100003")],
        subject: Some(EncodedString::new("Holiday")),
        expiry: Some(TimeValue::Absolute(1_760_000_000)),
        delivery_report: Some(true),
        ..Default::default()
    };
    let parts = vec![
        part(ContentType::new("application/smil"), "smil", "smil.xml", SMIL.to_vec()),
        part(text_utf8(), "text", "text.txt", "Grüße aus Köln".as_bytes().to_vec()),
        part(ContentType::new("image/jpeg"), "img", "a.jpg", (0..48).collect()),
    ];
    Message::with_body(pdu, Body::multipart(related(), parts)).encode()
}

fn seed_retrieve_conf() -> Vec<u8> {
    let pdu = RetrieveConf {
        transaction_id: Some("r-77".to_owned()),
        mms_version: Some(Version::V1_2),
        message_id: Some("msg-77@mmsc.example.net".to_owned()),
        from: Some(Sender::Address(phone("0100004"))),
        to: vec![phone("0100005")],
        date: Some(1_700_000_000),
        priority: Some(Priority::HIGH),
        ..Default::default()
    };
    let parts = vec![
        part(text_utf8(), "t", "t.txt", b"hello".to_vec()),
        part(ContentType::new("image/png"), "p", "p.png", vec![0x89; 24]),
    ];
    let body = Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts);
    Message::with_body(pdu, body).encode()
}

/// Valid PDUs for the mutation properties, small so that mutations land in headers often.
static SEEDS: LazyLock<[Vec<u8>; 3]> = LazyLock::new(|| [seed_notification(), seed_send_req(), seed_retrieve_conf()]);

/// One edit of an encoded PDU. Positions are indices into whatever length the buffer has then.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        bit: u8,
    },
    Truncate {
        at: Index,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Remove {
        at: Index,
        len: usize,
    },
    /// Shifts an octet that reads as a Short-length or Length-quote (< 0x20), so that a
    /// declared length disagrees with what follows.
    Length {
        nth: Index,
        delta: i8,
    },
    /// Replaces an octet by a uintvar: multipart entry counts and lengths are uintvars.
    Uintvar {
        at: Index,
        value: u32,
    },
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        match self {
            Mutation::Flip { at, bit } => {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << (bit % 8);
            }
            Mutation::Truncate { at } => bytes.truncate(at.index(bytes.len())),
            Mutation::Insert { at, bytes: new } => {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Remove { at, len } => {
                let at = at.index(bytes.len());
                let end = bytes.len().min(at + len);
                bytes.drain(at..end);
            }
            Mutation::Length { nth, delta } => {
                let lengths: Vec<usize> = (0..bytes.len()).filter(|i| bytes[*i] < 0x20).collect();
                if !lengths.is_empty() {
                    let at = lengths[nth.index(lengths.len())];
                    bytes[at] = bytes[at].wrapping_add_signed(*delta);
                }
            }
            Mutation::Uintvar { at, value } => {
                let at = at.index(bytes.len());
                let mut encoded = Vec::new();
                writer::uintvar(&mut encoded, *value);
                bytes.splice(at..=at, encoded);
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), 1..16usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<Index>(), -4..=4i8).prop_map(|(nth, delta)| Mutation::Length { nth, delta }),
        (any::<Index>(), prop_oneof![0..300u32, any::<u32>()]).prop_map(|(at, value)| Mutation::Uintvar { at, value }),
    ]
}

fn mutated(seeds: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    (0..seeds.len(), prop::collection::vec(mutation(), 1..6)).prop_map(|(seed, mutations)| {
        let mut bytes = seeds[seed].clone();
        for m in &mutations {
            m.apply(&mut bytes);
        }
        bytes
    })
}

fn mutated_pdu() -> impl Strategy<Value = Vec<u8>> {
    mutated(&*SEEDS)
}

/// Random bytes behind a valid Message-Type header, so that header decoding gets exercised
/// far more often than with fully random input.
fn typed_garbage() -> impl Strategy<Value = Vec<u8>> {
    (0x80..=0x97u8, prop::collection::vec(any::<u8>(), 0..512)).prop_map(|(message_type, rest)| {
        let mut bytes = vec![0x8C, message_type];
        bytes.extend(rest);
        bytes
    })
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._@-]{0,24}"
}

fn address() -> impl Strategy<Value = Address> {
    "[0-9]{7}".prop_map(|digits| phone(&digits))
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![address().prop_map(Sender::Address), Just(Sender::InsertAddress)]
}

/// ASCII text goes out as a Text-string, anything else as UTF-8 with a charset.
fn encoded_string() -> impl Strategy<Value = EncodedString> {
    prop_oneof!["[ -~]{0,40}", "\\PC{0,20}"].prop_map(EncodedString::auto)
}

fn time_value() -> impl Strategy<Value = TimeValue> {
    prop_oneof![any::<u64>().prop_map(TimeValue::Relative), any::<u64>().prop_map(TimeValue::Absolute)]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V1_0),
        Just(Version::V1_2),
        Just(Version::V1_3),
        any::<(u8, u8)>().prop_map(|(major, minor)| Version { major, minor }),
    ]
}

/// Includes the `0xNN` spelling that decoding gives an unassigned octet class.
fn message_class() -> impl Strategy<Value = MessageClass> {
    prop_oneof![
        Just(MessageClass::Personal),
        Just(MessageClass::Advertisement),
        Just(MessageClass::Informational),
        Just(MessageClass::Auto),
        "0x[0-9a-fA-F]{2}|[a-z][a-z-]{0,11}".prop_map(MessageClass::Other),
    ]
}

/// Octet enumerations keep unassigned values, so any octet with the high bit set is valid.
fn octet() -> impl Strategy<Value = u8> {
    0x80..=0xFFu8
}

fn media_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![
        Just(text_utf8()),
        Just(ContentType::new("text/plain")),
        Just(ContentType::new("application/smil")),
        Just(ContentType::new("image/jpeg")),
        Just(ContentType::new("image/png")),
        Just(ContentType::new("image/gif")),
        Just(ContentType::new("audio/amr")),
        Just(ContentType::new("video/3gpp")),
        Just(ContentType::new("text/x-vCard")),
        "[a-z0-9.-]{1,12}".prop_map(|name| {
            let mut ct = ContentType::new("application/octet-stream");
            ct.params.name = Some(name);
            ct
        }),
    ]
}

fn typed_part() -> impl Strategy<Value = Part<'static>> {
    (
        media_type(),
        proptest::option::of("<[a-z0-9]{1,8}>"),
        proptest::option::of("[a-z0-9]{1,8}\\.[a-z]{3}"),
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(content_type, content_id, content_location, data)| {
            let mut part = Part::new(content_type, data);
            part.headers.content_id = content_id;
            part.headers.content_location = content_location;
            part
        })
}

fn multipart_body() -> impl Strategy<Value = Body<'static>> {
    (
        prop_oneof![Just(related()), Just(ContentType::new("application/vnd.wap.multipart.mixed"))],
        prop::collection::vec(typed_part(), 0..5),
    )
        .prop_map(|(content_type, parts)| Body::multipart(content_type, parts))
}

/// A retrieve-conf may carry a single entity instead of a multipart.
fn any_body() -> impl Strategy<Value = Body<'static>> {
    prop_oneof![
        multipart_body(),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|data| Body { content_type: text_utf8(), data: BodyData::Single(data.into()) }),
    ]
}

prop_compose! {
    fn send_req()(
        transaction_id in proptest::option::of(token()),
        mms_version in proptest::option::of(version()),
        from in proptest::option::of(sender()),
        to in prop::collection::vec(address(), 0..4),
        cc in prop::collection::vec(address(), 0..2),
        subject in proptest::option::of(encoded_string()),
        message_class in proptest::option::of(message_class()),
        expiry in proptest::option::of(time_value()),
        priority in proptest::option::of(octet()),
        delivery_report in proptest::option::of(any::<bool>()),
        body in multipart_body(),
    ) -> Message<'static> {
        let pdu = SendReq {
            transaction_id, mms_version, from, to, cc, subject, message_class, expiry,
            priority: priority.map(Priority),
            delivery_report,
            ..Default::default()
        };
        Message::with_body(pdu, body)
    }
}

prop_compose! {
    fn notification_ind()(
        transaction_id in proptest::option::of(token()),
        mms_version in proptest::option::of(version()),
        from in proptest::option::of(sender()),
        subject in proptest::option::of(encoded_string()),
        message_class in proptest::option::of(message_class()),
        message_size in proptest::option::of(any::<u64>()),
        expiry in proptest::option::of(time_value()),
        content_location in proptest::option::of("http://mmsc\\.example\\.net/m/[0-9a-f]{32}"),
        delivery_report in proptest::option::of(any::<bool>()),
    ) -> Message<'static> {
        Message::new(NotificationInd {
            transaction_id, mms_version, from, subject, message_class, message_size, expiry,
            content_location, delivery_report,
            ..Default::default()
        })
    }
}

prop_compose! {
    fn retrieve_conf()(
        transaction_id in proptest::option::of(token()),
        message_id in proptest::option::of(token()),
        from in proptest::option::of(sender()),
        to in prop::collection::vec(address(), 0..4),
        subject in proptest::option::of(encoded_string()),
        date in proptest::option::of(any::<u64>()),
        message_class in proptest::option::of(message_class()),
        read_report in proptest::option::of(any::<bool>()),
        body in proptest::option::of(any_body()),
    ) -> Message<'static> {
        let pdu = RetrieveConf {
            transaction_id, message_id, from, to, subject, date, message_class, read_report,
            mms_version: Some(Version::V1_2),
            ..Default::default()
        };
        Message { pdu: pdu.into(), body }
    }
}

prop_compose! {
    fn delivery_ind()(
        message_id in proptest::option::of(token()),
        to in prop::collection::vec(address(), 0..3),
        date in proptest::option::of(any::<u64>()),
        status in proptest::option::of(octet()),
        status_text in proptest::option::of(encoded_string()),
    ) -> Message<'static> {
        Message::new(DeliveryInd {
            message_id, to, date, status_text,
            mms_version: Some(Version::V1_3),
            status: status.map(Status),
            ..Default::default()
        })
    }
}

prop_compose! {
    fn notify_resp_ind()(
        transaction_id in proptest::option::of(token()),
        status in proptest::option::of(octet()),
        report_allowed in proptest::option::of(any::<bool>()),
    ) -> Message<'static> {
        Message::new(NotifyRespInd {
            transaction_id, report_allowed,
            mms_version: Some(Version::V1_1),
            status: status.map(Status),
            ..Default::default()
        })
    }
}

fn typed_message() -> impl Strategy<Value = Message<'static>> {
    prop_oneof![send_req(), notification_ind(), retrieve_conf(), delivery_ind(), notify_resp_ind()]
}

/// Text without NULs, often starting with an octet that the Text-string rules treat specially:
/// the Quote (0x7F), a control octet (read as a length elsewhere) or a high octet.
fn text_octets() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![Just(0x7F), 1..0x20u8, 0x80..=0xFFu8, 0x20..0x7Fu8];
    (proptest::option::of(first), prop::collection::vec(1..=255u8, 0..16)).prop_map(|(first, rest)| {
        let mut text: Vec<u8> = first.into_iter().collect();
        text.extend(rest);
        text
    })
}

/// One WSP primitive read, applied in sequence by the reader property.
#[derive(Debug, Clone, Copy)]
enum Primitive {
    Uintvar,
    ValueLength,
    TextString,
    QuotedString,
    Integer,
    LengthPrefixed,
    SkipValue,
}

fn primitive() -> impl Strategy<Value = Primitive> {
    prop_oneof![
        Just(Primitive::Uintvar),
        Just(Primitive::ValueLength),
        Just(Primitive::TextString),
        Just(Primitive::QuotedString),
        Just(Primitive::Integer),
        Just(Primitive::LengthPrefixed),
        Just(Primitive::SkipValue),
    ]
}

/// Reads one primitive, checking what its result promises about the input.
fn read(r: &mut Reader<'_>, primitive: Primitive) -> tern_codec::Result<()> {
    match primitive {
        Primitive::Uintvar => {
            let start = r.offset();
            r.uintvar("t")?;
            assert!(r.offset() - start <= 5, "a uintvar is at most 5 octets");
        }
        Primitive::ValueLength => {
            let len = r.value_length("t")?;
            assert!(len <= r.remaining().len(), "value length {len} beyond the input");
        }
        Primitive::TextString => assert!(!r.text_string("t")?.contains(&0)),
        Primitive::QuotedString => assert!(!r.quoted_string("t")?.contains(&0)),
        Primitive::Integer => {
            r.integer("t")?;
        }
        Primitive::LengthPrefixed => {
            let mut value = r.length_prefixed("t")?;
            value.rest();
        }
        Primitive::SkipValue => {
            r.skip_value("t")?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_checked(&bytes);
    }

    #[test]
    fn decode_survives_mutated_pdus(bytes in mutated_pdu()) {
        decode_checked(&bytes);
    }

    #[test]
    fn decoded_input_round_trips(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), typed_garbage(), mutated_pdu()],
    ) {
        if let Some(message) = decode_checked(&bytes) {
            let encoded = message.encode();
            prop_assert_eq!(decode_in_time(&encoded), Ok(message), "re-encoded as {:02x?}", encoded);
        }
    }

    #[test]
    fn typed_messages_round_trip(message in typed_message()) {
        let encoded = message.encode();
        prop_assert_eq!(Message::decode(&encoded), Ok(message), "encoded as {:02x?}", encoded);
    }

    #[test]
    fn reader_primitives_survive_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        reads in prop::collection::vec(primitive(), 1..16),
    ) {
        let mut r = Reader::new(&bytes);
        for primitive in reads {
            let before = r.offset();
            match read(&mut r, primitive) {
                Ok(()) => prop_assert!(r.offset() > before, "{:?} succeeded without consuming input", primitive),
                Err(e) => {
                    prop_assert!(e.offset <= bytes.len(), "error offset {} beyond the input: {}", e.offset, e);
                    break;
                }
            }
        }
    }

    #[test]
    fn written_primitives_read_back(
        uintvar in any::<u32>(),
        integer in any::<u64>(),
        len in 0..300usize,
        text in text_octets(),
    ) {
        let mut out = Vec::new();
        writer::uintvar(&mut out, uintvar);
        writer::integer(&mut out, integer);
        writer::value_length(&mut out, len);
        out.extend(std::iter::repeat_n(0xAA, len));
        writer::text_string(&mut out, &text);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.uintvar("t"), Ok(uintvar));
        prop_assert_eq!(r.integer("t"), Ok(integer));
        prop_assert_eq!(r.value_length("t"), Ok(len));
        r.take(len, "t").unwrap();
        prop_assert_eq!(r.text_string("t"), Ok(&text[..]));
        prop_assert!(r.is_empty());
    }
}

/// The mutation properties start from these; they must be valid for mutations to mean anything.
#[test]
fn seeds_decode_and_round_trip() {
    for seed in SEEDS.iter() {
        let message = Message::decode(seed).unwrap();
        assert_eq!(message.encode(), *seed);
    }
    for seed in SMS_SEEDS.iter() {
        assert_eq!(Tpdu::decode(seed, Direction::ToMobile).unwrap().encode(), *seed);
    }
}

/// `Push::decode` under the deadline, with the body copied so the push can cross threads.
fn push_in_time(bytes: &[u8]) -> tern_codec::Result<Push<'static>> {
    in_time(bytes, |b| Push::decode(b).map(|push| Push { body: Cow::Owned(push.body.into_owned()), ..push }))
}

/// Random bytes behind a TID and the Push PDU type, so that header decoding gets reached.
fn push_like() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..256)).prop_map(|(tid, rest)| {
        let mut bytes = vec![tid, 0x06];
        bytes.extend(rest);
        bytes
    })
}

/// The SCTS every generated SMS-DELIVER carries; its value does not matter to the framing.
const TIMESTAMP: [u8; 7] = [0x52, 0x11, 0x32, 0x41, 0x05, 0x00, 0x00];

/// The SMS-DELIVERs that carry a notification push, a valid base for TPDU mutations.
static SMS_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let push = Push::mms(1, &SEEDS[0][..]).encode();
    let segments = sms::segment(&push, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Eight(7));
    segments
        .unwrap()
        .into_iter()
        .map(|user_data| {
            let originator = sms::Address::international("+447700900123");
            Tpdu::Deliver(sms::wap_push_deliver(originator, user_data, TIMESTAMP)).encode()
        })
        .collect()
});

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::ToMobile), Just(Direction::FromMobile)]
}

fn concat_ref() -> impl Strategy<Value = ConcatRef> {
    prop_oneof![any::<u8>().prop_map(ConcatRef::Eight), any::<u16>().prop_map(ConcatRef::Sixteen),]
}

/// A segment as a peer might send it: a few references, totals and sequence numbers, valid or
/// not, from a few senders.
fn concat_segment() -> impl Strategy<Value = (u8, Concat, Vec<u8>)> {
    (0..3u8, 0..3u16, 0..4u8, 0..5u8, prop::collection::vec(any::<u8>(), 0..160))
        .prop_map(|(sender, reference, total, seq, payload)| (sender, Concat { reference, total, seq }, payload))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn push_decode_survives_and_round_trips(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), push_like()],
    ) {
        if let Ok(push) = push_in_time(&bytes).inspect_err(|e| assert_offset_inside(e, &bytes)) {
            let encoded = push.encode();
            prop_assert_eq!(push_in_time(&encoded), Ok(push), "re-encoded as {:02x?}", encoded);
        }
    }

    /// The push carries the PDU octet for octet; typed_messages_round_trip covers the PDU.
    #[test]
    fn pushed_mms_round_trips(tid in any::<u8>(), message in typed_message()) {
        let pdu = message.encode();
        let pushed = Push::mms(tid, &pdu[..]).encode();
        let push = Push::decode(&pushed).unwrap();
        prop_assert!(push.is_mms());
        prop_assert_eq!(push.transaction_id, tid);
        prop_assert_eq!(&*push.body, &pdu[..]);
    }

    #[test]
    fn user_data_decode_survives_and_round_trips(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        has_header in any::<bool>(),
    ) {
        let decoded = in_time(&bytes, move |b| {
            UserData::decode(b, has_header).map(|ud| (ud.header, ud.payload.to_vec()))
        });
        if let Ok((header, payload)) = decoded.inspect_err(|e| assert_offset_inside(e, &bytes)) {
            let user_data = UserData { header, payload: &payload };
            let encoded = user_data.encode();
            prop_assert_eq!(UserData::decode(&encoded, has_header), Ok(user_data));
        }
    }

    #[test]
    fn tpdu_decode_survives_and_round_trips(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..200), mutated(&SMS_SEEDS)],
        direction in direction(),
    ) {
        let with_smsc = in_time(&bytes, move |b| sms::decode_with_smsc(b, direction));
        if let Err(e) = with_smsc {
            assert_offset_inside(&e, &bytes);
        }
        if let Ok(tpdu) = in_time(&bytes, move |b| Tpdu::decode(b, direction))
            .inspect_err(|e| assert_offset_inside(e, &bytes))
        {
            let encoded = tpdu.encode();
            prop_assert_eq!(Tpdu::decode(&encoded, direction), Ok(tpdu), "re-encoded as {:02x?}", encoded);
        }
    }

    /// A push split into short messages, framed as SMS-DELIVERs and received in any order
    /// comes back whole, addressed to the push port.
    #[test]
    fn segmented_push_reassembles_in_any_order(
        payload in prop::collection::vec(any::<u8>(), 1..4000),
        reference in concat_ref(),
        order in prop::collection::vec(any::<u64>(), 40),
    ) {
        let segments = sms::segment(&payload, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, reference).unwrap();
        let mut arrival: Vec<usize> = (0..segments.len()).collect();
        arrival.sort_by_key(|i| (order[i % order.len()], *i));
        let mut reassembler = Reassembler::new(1);
        let mut complete = Vec::new();
        for i in arrival {
            prop_assert!(segments[i].len() <= sms::MAX_USER_DATA);
            let originator = sms::Address::international("+447700900123");
            let deliver = sms::wap_push_deliver(originator, segments[i].clone(), TIMESTAMP);
            let Tpdu::Deliver(received) = Tpdu::decode(&Tpdu::Deliver(deliver).encode(), Direction::ToMobile).unwrap() else {
                panic!("an SMS-DELIVER decoded as another TPDU");
            };
            complete.extend(reassembler.push("+447700900123", &received.user_data().unwrap()));
        }
        prop_assert_eq!(complete.len(), 1);
        prop_assert_eq!(complete[0].ports, Some((WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT)));
        prop_assert_eq!(&complete[0].payload, &payload);
        prop_assert_eq!(reassembler.pending(), 0);
    }

    #[test]
    fn reassembler_stays_bounded(
        segments in prop::collection::vec(concat_segment(), 0..64),
        max_pending in 0..4usize,
    ) {
        let mut reassembler = Reassembler::new(max_pending);
        for (sender, concat, payload) in &segments {
            let element = InformationElement::Concat16 {
                reference: concat.reference,
                total: concat.total,
                seq: concat.seq,
            };
            let header = UserDataHeader { elements: vec![element] };
            let user_data = UserData { header: Some(header), payload };
            if let Some(message) = reassembler.push(&sender.to_string(), &user_data) {
                prop_assert!(message.payload.len() <= usize::from(concat.total.max(1)) * sms::MAX_USER_DATA);
            }
            prop_assert!(reassembler.pending() <= max_pending.max(1));
        }
    }
}

/// Inputs the properties above have found whose decode -> encode -> decode changes the value,
/// minimised by hand, so that each failure is reproduced on every run, not only when the
/// random search happens to hit it again.
const ROUND_TRIP_REGRESSIONS: &[(&str, &[u8])] = &[
    ("Encoded-string with a charset that has no codec is re-encoded as UTF-8", &[0x8C, 0x80, 0x81, 0x02, 0x80, 0x00]),
    (
        "text starting with DEL loses it: the writer quotes only octets >= 0x80",
        &[0x8C, 0x80, 0x98, 0x7F, 0x7F, 0x41, 0x00],
    ),
    ("text starting with a control octet is re-read as a Value-length", &[0x8C, 0x82, 0x81, 0x7F, 0x18, 0x00]),
    (
        "message class text \"0x80\" is re-encoded as the octet 0x80 (personal)",
        &[0x8C, 0x80, 0x8A, b'0', b'x', b'8', b'0', 0x00],
    ),
    (
        "typed parameter 0x03 is kept as textual \"type\", re-read as the related type",
        &[0x8C, 0x84, 0x84, 0x03, 0x00, 0x83, 0x00],
    ),
    (
        "raw fallback of an unterminated high-octet text is 1 octet; a later NUL changes that",
        &[0x8C, 0x81, 0xB5, 0x80, 0x85, 0x80],
    ),
    (
        "raw fallback of a length-form text value; a later NUL lets the text decoder succeed",
        &[0x8C, 0x80, 0x8B, 0x01, 0x41, 0x84, 0xFF],
    ),
    (
        "length-quoted parameter value is kept with its length octets, NUL included",
        &[0x8C, 0x84, 0x84, 0x05, 0x83, b'a', 0x00, 0x1F, 0x00],
    ),
    ("Status-count form is chosen only for headers after the Message-Type", &[0x92, 0x02, 0x81, 0x80, 0x8C, 0x92]),
];

#[test]
fn round_trip_regressions() {
    let failures: Vec<String> = ROUND_TRIP_REGRESSIONS
        .iter()
        .filter_map(|(what, bytes)| {
            // A fix may reject an input outright; only a value that changes is a failure.
            let message = Message::decode(bytes).ok()?;
            let encoded = message.encode();
            let again = Message::decode(&encoded);
            (again.as_ref() != Ok(&message))
                .then(|| format!("{what}: {bytes:02x?} -> {encoded:02x?}\n  {message:?}\n  {again:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} round trips changed the value:\n{}",
        failures.len(),
        ROUND_TRIP_REGRESSIONS.len(),
        failures.join("\n")
    );
}
