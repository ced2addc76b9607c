//! Generated MMS PDUs for the peer tests: every message type with the headers it defines, and
//! many seeded random variants (addresses, charsets, versions, parts), each with the values an
//! independent decoder must read back.

use std::borrow::Cow;

use tern_codec::mms::*;
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

/// What a peer must read back from a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub type_code: u8,
    pub transaction_id: Option<String>,
    pub version: String,
    /// `None` for the insert-address token.
    pub from: Option<Option<String>>,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub content_location: Option<String>,
    /// Content-Locations in the Status-count form (delete confirmations), as encoded values.
    pub indexed_locations: Vec<Vec<u8>>,
    pub content_type: Option<String>,
    pub parts: Vec<String>,
}

#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub message: Message<'static>,
    pub expect: Expect,
}

/// A small deterministic generator, so a failing case can be rebuilt from its name.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn token(&mut self, len: usize) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len).map(|_| char::from(*self.pick(ALNUM))).collect()
    }
    fn phone(&mut self) -> Address {
        Address::phone(&format!("+1555{:07}", self.below(10_000_000)))
    }
}

const SUBJECTS: &[&str] =
    &["Hello", "Photos from the trip", "Grüße aus Köln", "Привет", "日本語の件名", "a", "x y z 1 2 3"];
const MEDIA: &[(&str, &str)] = &[
    ("text/plain", "text.txt"),
    ("application/smil", "smil.xml"),
    ("image/jpeg", "photo.jpg"),
    ("image/gif", "anim.gif"),
    ("image/png", "pic.png"),
    ("audio/amr", "voice.amr"),
    ("video/3gpp", "clip.3gp"),
];
const VERSIONS: &[Version] = &[Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3];

/// Types whose PDU carries a body (Content-Type and a multipart).
fn has_body(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::SEND_REQ | MessageType::RETRIEVE_CONF | MessageType::MBOX_UPLOAD_REQ | MessageType::MBOX_DESCR
    )
}

fn build(t: MessageType, rng: &mut Rng, name: String) -> Case {
    let tid_len = 1 + rng.below(30);
    let tid = rng.token(tid_len);
    let version = *rng.pick(VERSIONS);
    let from = match rng.below(3) {
        0 => Sender::InsertAddress,
        1 => Sender::Address(rng.phone()),
        _ => Sender::Address(Address::new(format!("{}@example.net", rng.token(6)))),
    };
    let to: Vec<Address> = (0..1 + rng.below(3)).map(|_| rng.phone()).collect();
    let subject = EncodedString::auto(*rng.pick(SUBJECTS));
    let location = format!("http://mmsc.example.net/m/{}", rng.token(32));
    let mut headers = vec![
        Header::TransactionId(tid),
        Header::MmsVersion(version),
        Header::From(from),
        Header::Subject(subject),
        Header::ContentLocation(location),
        Header::MessageId(rng.token(20)),
        Header::Date(1_700_000_000 + rng.next() % 100_000_000),
        Header::MessageClass(MessageClass::Personal),
        Header::MessageSize(rng.next() % 1_000_000),
        Header::Expiry(TimeValue::Relative(rng.next() % 1_000_000)),
        Header::Priority(Priority::NORMAL),
        Header::DeliveryReport(rng.below(2) == 0),
        Header::ReadReport(rng.below(2) == 0),
        Header::ReportAllowed(true),
        Header::Status(Status::RETRIEVED),
        Header::ResponseStatus(ResponseStatus::OK),
        Header::RetrieveStatus(RetrieveStatus::OK),
        Header::ReadStatus(ReadStatus::READ),
        Header::CancelId(rng.token(10)),
        Header::CancelStatus(CancelStatus::RECEIVED),
        Header::StoreStatus(StoreStatus::SUCCESS),
        Header::MmState(MmState::NEW),
    ];
    headers.extend(to.into_iter().map(Header::To));
    let mut pdu = Pdu::from_headers(t, headers).unwrap();
    // Keep only the fields this PDU defines, as a real peer would send.
    strip_other(&mut pdu);
    // Delete confirmations answer each Content-Location in the Status-count form.
    if let Pdu::DeleteConf(DeleteConf { results, content_location, response_status, .. })
    | Pdu::MboxDeleteConf(MboxDeleteConf { results, content_location, response_status, .. }) = &mut pdu
    {
        for (index, location) in content_location.drain(..).enumerate() {
            let status = response_status.take().map(Header::ResponseStatus);
            results.push(Indexed { index: index as u64, header: Box::new(Header::ContentLocation(location)) });
            results.extend(status.map(|h| Indexed { index: index as u64, header: Box::new(h) }));
        }
    }
    let body = has_body(t).then(|| body(rng));
    let message = Message { pdu, body };
    let expect = expect(&message);
    Case { name, message, expect }
}

fn strip_other(pdu: &mut Pdu) {
    macro_rules! strip {
        ($($V:ident),*) => { match pdu { $(Pdu::$V(p) => p.other.clear(),)* } };
    }
    strip!(
        SendReq,
        SendConf,
        NotificationInd,
        NotifyRespInd,
        RetrieveConf,
        AcknowledgeInd,
        DeliveryInd,
        ReadRecInd,
        ReadOrigInd,
        ForwardReq,
        ForwardConf,
        MboxStoreReq,
        MboxStoreConf,
        MboxViewReq,
        MboxViewConf,
        MboxUploadReq,
        MboxUploadConf,
        MboxDeleteReq,
        MboxDeleteConf,
        MboxDescr,
        DeleteReq,
        DeleteConf,
        CancelReq,
        CancelConf
    );
}

fn body(rng: &mut Rng) -> Body<'static> {
    let count = 1 + rng.below(4);
    let mut parts = Vec::new();
    for i in 0..count {
        let (media, file) = *rng.pick(MEDIA);
        let mut ct = ContentType::new(media);
        if media.starts_with("text/") {
            ct.params.charset = Some(Charset::UTF_8);
        }
        ct.params.name = Some(file.to_owned());
        let len = rng.below(2000);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut part = Part::new(ct, Cow::Owned(data));
        part.headers.content_id = Some(format!("<part{i}>"));
        part.headers.content_location = Some(file.to_owned());
        parts.push(part);
    }
    let mut ct = ContentType::new("application/vnd.wap.multipart.related");
    ct.params.related_type = Some("application/smil".to_owned());
    ct.params.start = Some("<part0>".to_owned());
    if rng.below(3) == 0 {
        ct = ContentType::new("application/vnd.wap.multipart.mixed");
    }
    Body::multipart(ct, parts)
}

/// The values a peer must find, taken from the message as built (not from our decoder).
pub fn expect(m: &Message<'_>) -> Expect {
    let mut e = Expect {
        type_code: m.pdu.message_type().0,
        transaction_id: m.pdu.transaction_id().map(str::to_owned),
        version: m.pdu.mms_version().map(|v| v.to_string()).unwrap_or_default(),
        from: None,
        to: Vec::new(),
        subject: None,
        content_location: None,
        indexed_locations: Vec::new(),
        content_type: m.body.as_ref().map(|b| b.content_type.media_type.clone()),
        parts: m
            .body
            .as_ref()
            .map(|b| b.parts().iter().map(|p| p.content_type.media_type.clone()).collect())
            .unwrap_or_default(),
    };
    for h in m.pdu.headers() {
        match h {
            Header::From(Sender::Address(a)) => e.from = Some(Some(a.text().to_owned())),
            Header::From(Sender::InsertAddress) => e.from = Some(None),
            Header::To(a) => e.to.push(a.text().to_owned()),
            Header::Subject(s) => e.subject = Some(s.text),
            Header::ContentLocation(l) => e.content_location = Some(l),
            Header::Indexed(i) if matches!(*i.header, Header::ContentLocation(_)) => {
                let mut value = Vec::new();
                Header::Indexed(i).encode(&mut value);
                e.indexed_locations.push(value[1..].to_vec());
            }
            _ => {}
        }
    }
    e
}

/// Every message type once, then `variants` random cases of the common types.
pub fn all(variants: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    for code in 0x80..=0x97u8 {
        let t = MessageType(code);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(code));
        cases.push(build(t, &mut rng, format!("{t}")));
    }
    let common = [
        MessageType::SEND_REQ,
        MessageType::NOTIFICATION_IND,
        MessageType::RETRIEVE_CONF,
        MessageType::SEND_CONF,
        MessageType::DELIVERY_IND,
        MessageType::READ_ORIG_IND,
        MessageType::NOTIFYRESP_IND,
        MessageType::ACKNOWLEDGE_IND,
    ];
    for i in 0..variants {
        let t = common[i % common.len()];
        let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1));
        cases.push(build(t, &mut rng, format!("{t}#{i}")));
    }
    cases
}

/// The case cut down to MMS 1.0: its header fields up to X-Mms-Transaction-Id (0x18), for
/// peers that know no later field. `None` for message types MMS 1.0 does not have.
pub fn mms_1_0(case: &Case) -> Option<Case> {
    let t = case.message.pdu.message_type();
    if t.0 > MessageType::DELIVERY_IND.0 {
        return None;
    }
    let headers = case.message.pdu.headers().into_iter().filter(|h| h.code().is_some_and(|c| c <= 0x18)).collect();
    let message = Message { pdu: Pdu::from_headers(t, headers)?, body: case.message.body.clone() };
    let expect = expect(&message);
    Some(Case { name: case.name.clone(), message, expect })
}
