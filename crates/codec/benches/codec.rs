//! Decode and encode throughput of `tern_codec::mms::Message` for three typical PDUs: a small
//! m-notification-ind, an m-send-req carrying a 300 KB photo, and a 10-part m-retrieve-conf.
//! A `memcpy` of the send-req's bytes is the baseline: decoding borrows part data instead of
//! copying it, so a large message should decode in well under the time of one copy.
//!
//! Run with `cargo bench -p tern-codec --bench codec`; results are in docs/BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tern_codec::mms::{
    Address, Body, Message, MessageClass, NotificationInd, RetrieveConf, SendReq, Sender, TimeValue, Version,
};
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

/// Deterministic filler; the codec never looks inside part data, so its content is irrelevant.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn part(content_type: ContentType, id: &str, location: &str, data: Vec<u8>) -> Part<'static> {
    let mut part = Part::new(content_type, data);
    part.headers.content_id = Some(format!("<{id}>"));
    part.headers.content_location = Some(location.to_owned());
    part
}

fn related() -> ContentType {
    let mut ct = ContentType::new("application/vnd.wap.multipart.related");
    ct.params.related_type = Some("application/smil".to_owned());
    ct.params.start = Some("<smil>".to_owned());
    ct
}

const SMIL: &[u8] = b"<smil><head><layout><root-layout width=\"320\" height=\"480\"/>\
    <region id=\"Image\" top=\"0\" height=\"80%\"/><region id=\"Text\" top=\"80%\"/>\
    </layout></head><body><par dur=\"5000ms\"><img src=\"image0.jpg\" region=\"Image\"/>\
    <text src=\"text.txt\" region=\"Text\"/></par></body></smil>";

fn notification_ind() -> Vec<u8> {
    let pdu = NotificationInd {
        transaction_id: Some("Tb3f1c2d4e5".to_owned()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::Address(Address::phone("+447700900123"))),
        subject: Some(EncodedString::auto("Photos from Saturday")),
        message_class: Some(MessageClass::Personal),
        message_size: Some(312_448),
        expiry: Some(TimeValue::Relative(604_800)),
        content_location: Some("http://mmsc.example.net/m/5f0c9a7e3b2d41c8a6e0f9b7d3c2a1e4".to_owned()),
        ..Default::default()
    };
    Message::new(pdu).encode()
}

fn send_req() -> Vec<u8> {
    let pdu = SendReq {
        transaction_id: Some("1700000000-42".to_owned()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone("+447700900456")],
        subject: Some(EncodedString::auto("Saturday")),
        message_class: Some(MessageClass::Personal),
        expiry: Some(TimeValue::Relative(604_800)),
        delivery_report: Some(false),
        read_report: Some(false),
        ..Default::default()
    };
    let text = ContentType::new("text/plain").with_charset(Charset::UTF_8);
    let parts = vec![
        part(ContentType::new("application/smil"), "smil", "smil.xml", SMIL.to_vec()),
        part(text, "text", "text.txt", b"Look at this view! See you next week.".to_vec()),
        part(ContentType::new("image/jpeg"), "image0", "image0.jpg", filler(300 * 1024, 1)),
    ];
    Message::with_body(pdu, Body::multipart(related(), parts)).encode()
}

fn retrieve_conf() -> Vec<u8> {
    let pdu = RetrieveConf {
        transaction_id: Some("r-1700000000-43".to_owned()),
        mms_version: Some(Version::V1_2),
        message_id: Some("5f0c9a7e3b2d41c8a6e0f9b7d3c2a1e4@mmsc.example.net".to_owned()),
        from: Some(Sender::Address(Address::phone("+447700900123"))),
        to: vec![Address::phone("+447700900456")],
        subject: Some(EncodedString::auto("Urlaubsgrüße")),
        date: Some(1_700_000_000),
        message_class: Some(MessageClass::Personal),
        ..Default::default()
    };
    // Ten entries of 10 to 28 KB, of the media types handsets mix in one message.
    let media = ["image/jpeg", "image/png", "audio/amr", "video/3gpp", "image/gif"];
    let parts = (0..10u8)
        .map(|i| {
            let media_type = media[usize::from(i) % media.len()];
            let name = format!("part{i}");
            let data = filler((10 + 2 * usize::from(i)) * 1024, i);
            part(ContentType::new(media_type), &name, &name, data)
        })
        .collect();
    let body = Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts);
    Message::with_body(pdu, body).encode()
}

fn cases() -> [(&'static str, Vec<u8>); 3] {
    [
        ("notification_ind", notification_ind()),
        ("send_req_300k", send_req()),
        ("retrieve_conf_10_parts", retrieve_conf()),
    ]
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, bytes) in cases() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| Message::decode(black_box(&bytes))));
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, bytes) in cases() {
        let message = Message::decode(&bytes).expect("benchmark PDUs are valid");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| black_box(&message).encode()));
    }
    group.finish();
}

/// The cost of one copy of the send-req's bytes, allocation included, as decoding would pay if
/// it copied the body.
fn memcpy(c: &mut Criterion) {
    let bytes = send_req();
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("memcpy_send_req", |b| b.iter(|| black_box(&bytes[..]).to_vec()));
    group.finish();
}

criterion_group!(benches, decode, encode, memcpy);
criterion_main!(benches);
