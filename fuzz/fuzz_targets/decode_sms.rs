//! Fuzz target for the SMS decoders of `tern_codec::sms`, the layer a peer's short messages
//! arrive in. The first input byte picks what the rest goes to:
//!
//! - 0, 1: `Tpdu::decode` and `decode_with_smsc` towards the mobile (SMS-DELIVER) or from it
//!   (SMS-SUBMIT). Errors point inside the input; a decoded TPDU survives encode -> decode
//!   unchanged, and so does the user data that `user_data()` splits off it.
//! - 2, 3: `UserData::decode` without and with TP-UDHI (the UDH parser): errors point inside
//!   the input, and what decodes survives encode -> decode unchanged.
//! - 4: `Reassembler::push` over a sequence of segments, each `[sender, length, user data...]`
//!   after a first byte that sets `max_pending`: never more than `max_pending` messages held,
//!   no message longer than 255 segments of 140 octets.
//! - 5: `segment` of the rest as a push payload, the segments received as SMS-DELIVERs in
//!   reverse order: exactly one message comes back, equal to the payload, to the given ports.
//!
//! Other selector values map onto these modulo 6.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::Error;
use tern_codec::sms::{
    self, Address, ConcatRef, Direction, MAX_USER_DATA, Reassembler, Tpdu, UserData, decode_with_smsc,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 6 {
        0 => tpdu(rest, Direction::ToMobile),
        1 => tpdu(rest, Direction::FromMobile),
        2 => user_data(rest, false),
        3 => user_data(rest, true),
        4 => reassemble(rest),
        _ => segment_and_reassemble(rest),
    }
});

fn assert_inside(e: &Error, input: &[u8]) {
    assert!(e.offset <= input.len(), "error offset {} beyond {} bytes: {e}", e.offset, input.len());
}

fn tpdu(bytes: &[u8], direction: Direction) {
    match decode_with_smsc(bytes, direction) {
        Ok((_, tpdu)) => round_trip(&tpdu, direction),
        Err(e) => assert_inside(&e, bytes),
    }
    match Tpdu::decode(bytes, direction) {
        Ok(tpdu) => {
            round_trip(&tpdu, direction);
            let (split, udhi) = match &tpdu {
                Tpdu::Deliver(deliver) => (deliver.user_data(), deliver.udhi),
                Tpdu::Submit(submit) => (submit.user_data(), submit.udhi),
            };
            match split {
                Ok(ud) => {
                    let encoded = ud.encode();
                    assert_eq!(UserData::decode(&encoded, udhi).as_ref(), Ok(&ud), "re-encoded as {encoded:02x?}");
                }
                Err(e) => assert_inside(&e, bytes),
            }
        }
        Err(e) => assert_inside(&e, bytes),
    }
}

fn round_trip(tpdu: &Tpdu, direction: Direction) {
    let encoded = tpdu.encode();
    assert_eq!(Tpdu::decode(&encoded, direction).as_ref(), Ok(tpdu), "re-encoded as {encoded:02x?}");
}

fn user_data(bytes: &[u8], has_header: bool) {
    match UserData::decode(bytes, has_header) {
        Ok(ud) => {
            let encoded = ud.encode();
            assert_eq!(UserData::decode(&encoded, has_header).as_ref(), Ok(&ud), "re-encoded as {encoded:02x?}");
        }
        Err(e) => assert_inside(&e, bytes),
    }
}

fn reassemble(bytes: &[u8]) {
    let Some((&max_pending, mut rest)) = bytes.split_first() else { return };
    let max_pending = usize::from(max_pending % 8).max(1);
    let mut reassembler = Reassembler::new(max_pending);
    while let [sender, len, tail @ ..] = rest {
        let (segment, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        let Ok(ud) = UserData::decode(segment, true) else { continue };
        if let Some(done) = reassembler.push(&format!("+4477009001{:02}", sender % 4), &ud) {
            assert!(done.payload.len() <= 255 * MAX_USER_DATA.max(segment.len()), "{} octets", done.payload.len());
        }
        assert!(reassembler.pending() <= max_pending, "{} pending, at most {max_pending}", reassembler.pending());
    }
}

/// The SCTS of the generated SMS-DELIVERs; its value does not matter to the framing.
const TIMESTAMP: [u8; 7] = [0x52, 0x11, 0x32, 0x41, 0x05, 0x00, 0x00];

fn segment_and_reassemble(bytes: &[u8]) {
    let [a, b, c, d, e, payload @ ..] = bytes else { return };
    let (dst, src) = (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]));
    let reference = if e & 1 == 0 { ConcatRef::Eight(*e) } else { ConcatRef::Sixteen((u16::from(*e) << 8) | 0x5A) };
    let Ok(segments) = sms::segment(payload, dst, src, reference) else {
        assert!(payload.len() > 255 * (MAX_USER_DATA - 13), "{} octets refused", payload.len());
        return;
    };
    let mut reassembler = Reassembler::new(1);
    let mut complete = Vec::new();
    for user_data in segments.into_iter().rev() {
        assert!(user_data.len() <= MAX_USER_DATA, "a segment of {} octets", user_data.len());
        let deliver = sms::wap_push_deliver(Address::international("+447700900123"), user_data, TIMESTAMP);
        let Ok(Tpdu::Deliver(received)) = Tpdu::decode(&Tpdu::Deliver(deliver).encode(), Direction::ToMobile) else {
            panic!("a generated SMS-DELIVER does not decode as one");
        };
        let ud = received.user_data().expect("a generated segment splits");
        complete.extend(reassembler.push("+447700900123", &ud));
    }
    assert_eq!(complete.len(), 1, "{} messages from one payload", complete.len());
    assert_eq!(complete[0].ports, Some((dst, src)));
    assert_eq!(complete[0].payload, payload);
    assert_eq!(reassembler.pending(), 0);
}
