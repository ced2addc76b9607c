//! WDP over SMS (WAP-259, 3GPP TS 23.040 §9.2.3.24): splitting a WSP push into the user
//! data of concatenated short messages, and the bounded reassembly of received segments.

use std::collections::HashMap;

use super::udh::{InformationElement, UserData, UserDataHeader};

/// The WDP port of the WAP Push connectionless session service (WAP-259 port number definitions).
pub const WAP_PUSH_PORT: u16 = 2948;
/// The WDP port of the connectionless WSP session service that pushes are sent from.
pub const WAP_PUSH_SOURCE_PORT: u16 = 9200;
/// TP-User-Data of 8-bit data is at most 140 octets (§9.2.3.16).
pub const MAX_USER_DATA: usize = 140;

/// The concatenation reference to stamp on a multi-segment message; the caller picks it so that
/// concurrent messages to one recipient do not collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcatRef {
    Eight(u8),
    Sixteen(u16),
}

impl ConcatRef {
    fn element(self, total: u8, seq: u8) -> InformationElement {
        match self {
            ConcatRef::Eight(reference) => InformationElement::Concat8 { reference, total, seq },
            ConcatRef::Sixteen(reference) => InformationElement::Concat16 { reference, total, seq },
        }
    }

    /// Payload octets left in one segment once UDHL, the port element and this concatenation
    /// element are in.
    fn payload_per_segment(self) -> usize {
        match self {
            ConcatRef::Eight(_) => MAX_USER_DATA - 12,
            ConcatRef::Sixteen(_) => MAX_USER_DATA - 13,
        }
    }
}

/// Payload octets that fit one short message next to UDHL and the 16-bit port element.
const SINGLE_PAYLOAD: usize = MAX_USER_DATA - 7;

/// Why a payload cannot be segmented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("the payload needs {segments} short messages, more than the 255 concatenation allows")]
    TooLong { segments: usize },
}

/// Splits a WSP push into SMS user data (UDHL + UDH + payload, each <= 140 octets).
///
/// Every segment repeats the 16-bit port element (`05 04 0B 84 23 F0` for the push ports) so
/// that any segment can be routed on its own. A push that fits one short message (133 octets)
/// gets no concatenation element; otherwise every segment carries one with the same reference and
/// total and seq 1..=total, leaving 128 payload octets a segment with an 8-bit reference and 127
/// with a 16-bit one.
pub fn segment(
    payload: &[u8],
    dst_port: u16,
    src_port: u16,
    reference: ConcatRef,
) -> Result<Vec<Vec<u8>>, SegmentError> {
    let ports = InformationElement::Ports16 { dst: dst_port, src: src_port };
    if payload.len() <= SINGLE_PAYLOAD {
        let header = UserDataHeader { elements: vec![ports] };
        return Ok(vec![UserData { header: Some(header), payload }.encode()]);
    }
    let chunks = payload.chunks(reference.payload_per_segment());
    let segments = chunks.len();
    // The total is one octet, so 255 segments is the most a concatenated message can have.
    let total = u8::try_from(segments).map_err(|_| SegmentError::TooLong { segments })?;
    Ok((1..=total)
        .zip(chunks)
        .map(|(seq, payload)| {
            let elements = vec![ports.clone(), reference.element(total, seq)];
            UserData { header: Some(UserDataHeader { elements }), payload }.encode()
        })
        .collect())
}

/// A complete message: the ports it was addressed to, if any, and the joined payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// `(destination, source)`.
    pub ports: Option<(u16, u16)>,
    pub payload: Vec<u8>,
}

/// Segments of one message are grouped by sender, reference and total: a segment that disagrees
/// on the total cannot belong to the same message, so it starts another one.
type Key = (String, u16, u8);

#[derive(Debug, Clone)]
struct Part {
    ports: Option<(u16, u16)>,
    payload: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Pending {
    /// Arrival order of the first segment, for evicting the oldest message.
    started: u64,
    received: usize,
    parts: Vec<Option<Part>>,
}

/// Sans-IO reassembly of concatenated short messages with bounded memory.
///
/// At most `max_pending` incomplete messages are held; a new one beyond that evicts the one
/// whose first segment arrived earliest. Each held segment is at most [`MAX_USER_DATA`] octets
/// and a message at most 255 segments, so memory stays below `max_pending` × 255 × 140 octets
/// plus the sender keys, whatever the peers send.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_pending: usize,
    next_start: u64,
    pending: HashMap<Key, Pending>,
}

impl Reassembler {
    /// `max_pending` is raised to 1 if 0, since otherwise no multi-segment message could
    /// ever complete.
    pub fn new(max_pending: usize) -> Self {
        Reassembler { max_pending: max_pending.max(1), next_start: 0, pending: HashMap::new() }
    }

    /// Incomplete messages being held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes one received segment; `sender` is whatever identifies the originator to the
    /// caller. Returns the message once its last missing segment arrives, or at once when the
    /// user data carries no concatenation element (or a total of 1).
    ///
    /// Segments that cannot be placed are dropped: seq 0 or above the total, a seq already
    /// received (the first copy wins), and payloads longer than [`MAX_USER_DATA`], which no
    /// short message can carry.
    pub fn push(&mut self, sender: &str, user_data: &UserData<'_>) -> Option<Reassembled> {
        let ports = user_data.header.as_ref().and_then(UserDataHeader::ports);
        let Some(concat) = user_data.header.as_ref().and_then(UserDataHeader::concat) else {
            return Some(Reassembled { ports, payload: user_data.payload.to_vec() });
        };
        if concat.seq == 0 || concat.seq > concat.total || user_data.payload.len() > MAX_USER_DATA {
            return None;
        }
        if concat.total == 1 {
            return Some(Reassembled { ports, payload: user_data.payload.to_vec() });
        }
        let key = (sender.to_owned(), concat.reference, concat.total);
        if !self.pending.contains_key(&key) {
            self.make_room();
            let started = self.next_start;
            self.next_start = self.next_start.wrapping_add(1);
            let parts = vec![None; usize::from(concat.total)];
            self.pending.insert(key.clone(), Pending { started, received: 0, parts });
        }
        let pending = self.pending.get_mut(&key)?;
        let slot = pending.parts.get_mut(usize::from(concat.seq).checked_sub(1)?)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(Part { ports, payload: user_data.payload.to_vec() });
        pending.received += 1;
        if pending.received < pending.parts.len() {
            return None;
        }
        let parts = self.pending.remove(&key)?.parts;
        let ports = parts.iter().flatten().find_map(|part| part.ports);
        let payload = parts.into_iter().flatten().flat_map(|part| part.payload).collect();
        Some(Reassembled { ports, payload })
    }

    fn make_room(&mut self) {
        while self.pending.len() >= self.max_pending {
            let oldest = self.pending.iter().min_by_key(|(_, pending)| pending.started).map(|(key, _)| key.clone());
            match oldest {
                Some(key) => self.pending.remove(&key),
                None => return,
            };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    fn decode(segment: &[u8]) -> UserData<'_> {
        UserData::decode(segment, true).unwrap()
    }

    #[test]
    fn a_push_that_fits_gets_only_the_port_element() {
        let data = payload(133);
        let segments = segment(&data, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Eight(7)).unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].len(), 140);
        assert_eq!(segments[0][..7], [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
        assert_eq!(segments[0][7..], data[..]);

        let empty = segment(&[], WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Eight(7)).unwrap();
        assert_eq!(empty, vec![vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]]);
    }

    #[test]
    fn one_octet_more_needs_two_segments_of_128_with_an_8_bit_reference() {
        let data = payload(134);
        let segments = segment(&data, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Eight(0x96)).unwrap();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0][..12], [0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x96, 0x02, 0x01]);
        assert_eq!(segments[1][..12], [0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x96, 0x02, 0x02]);
        assert_eq!(segments[0].len() - 12, 128);
        assert_eq!(segments[1].len() - 12, 6);
    }

    #[test]
    fn a_16_bit_reference_leaves_127_octets_a_segment() {
        let data = payload(254);
        let segments = segment(&data, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Sixteen(40846)).unwrap();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[1][..13], [0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0x9F, 0x8E, 0x02, 0x02]);
        assert!(segments.iter().all(|s| s.len() == 140));
        let three = segment(&payload(255), 1, 2, ConcatRef::Sixteen(1)).unwrap();
        assert_eq!(three.len(), 3);
    }

    #[test]
    fn every_segment_fits_an_sms_and_decodes_to_its_place() {
        for reference in [ConcatRef::Eight(200), ConcatRef::Sixteen(0xBEEF)] {
            for len in [0, 1, 133, 134, 255, 256, 1000, 127 * 255] {
                let segments = segment(&payload(len), 1234, 5678, reference).unwrap();
                for (i, s) in segments.iter().enumerate() {
                    assert!(s.len() <= MAX_USER_DATA, "{len}: segment of {}", s.len());
                    let header = decode(s).header.unwrap();
                    assert_eq!(header.ports(), Some((1234, 5678)));
                    if segments.len() > 1 {
                        let concat = header.concat().unwrap();
                        assert_eq!(usize::from(concat.total), segments.len());
                        assert_eq!(usize::from(concat.seq), i + 1);
                    }
                }
            }
        }
    }

    #[test]
    fn more_than_255_segments_is_an_error() {
        let ok = segment(&payload(128 * 255), 1, 2, ConcatRef::Eight(1)).unwrap();
        assert_eq!(ok.len(), 255);
        assert_eq!(
            segment(&payload(128 * 255 + 1), 1, 2, ConcatRef::Eight(1)),
            Err(SegmentError::TooLong { segments: 256 })
        );
        assert_eq!(
            segment(&payload(127 * 255 + 1), 1, 2, ConcatRef::Sixteen(1)),
            Err(SegmentError::TooLong { segments: 256 })
        );
    }

    #[test]
    fn segment_then_reassemble_in_reverse_with_duplicates() {
        for reference in [ConcatRef::Eight(42), ConcatRef::Sixteen(4242)] {
            let mut reassembler = Reassembler::new(4);
            for len in 0..1000 {
                let data = payload(len);
                let segments = segment(&data, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, reference).unwrap();
                let mut done = None;
                for s in segments.iter().rev() {
                    let ud = decode(s);
                    // A duplicate of a segment that did not complete the message is dropped.
                    match reassembler.push("+447700900123", &ud) {
                        Some(r) => {
                            assert!(done.is_none());
                            done = Some(r);
                        }
                        None => assert_eq!(reassembler.push("+447700900123", &ud), None),
                    }
                }
                let done = done.unwrap();
                assert_eq!(done.payload, data, "length {len}");
                assert_eq!(done.ports, Some((WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT)));
                assert_eq!(reassembler.pending(), 0);
            }
        }
    }

    fn concat_user_data(reference: u16, total: u8, seq: u8, payload: &[u8]) -> UserData<'_> {
        let elements = vec![InformationElement::Concat16 { reference, total, seq }];
        UserData { header: Some(UserDataHeader { elements }), payload }
    }

    #[test]
    fn senders_references_and_totals_keep_messages_apart() {
        let mut r = Reassembler::new(8);
        assert_eq!(r.push("a", &concat_user_data(1, 2, 1, b"a1")), None);
        assert_eq!(r.push("b", &concat_user_data(1, 2, 2, b"b2")), None);
        assert_eq!(r.push("a", &concat_user_data(2, 2, 2, b"x2")), None);
        // Same sender and reference but a different total: another message.
        assert_eq!(r.push("a", &concat_user_data(1, 3, 2, b"t2")), None);
        assert_eq!(r.pending(), 4);
        let done = r.push("a", &concat_user_data(1, 2, 2, b"a2")).unwrap();
        assert_eq!(done, Reassembled { ports: None, payload: b"a1a2".to_vec() });
        let done = r.push("b", &concat_user_data(1, 2, 1, b"b1")).unwrap();
        assert_eq!(done.payload, b"b1b2");
        assert_eq!(r.pending(), 2);
    }

    #[test]
    fn misplaced_and_oversized_segments_are_ignored() {
        let mut r = Reassembler::new(8);
        assert_eq!(r.push("a", &concat_user_data(1, 2, 0, b"zero")), None);
        assert_eq!(r.push("a", &concat_user_data(1, 2, 3, b"three")), None);
        assert_eq!(r.push("a", &concat_user_data(1, 0, 1, b"no total")), None);
        assert_eq!(r.push("a", &concat_user_data(1, 2, 1, &[0; MAX_USER_DATA + 1])), None);
        assert_eq!(r.pending(), 0);
        let single = r.push("a", &concat_user_data(1, 1, 1, b"one")).unwrap();
        assert_eq!(single.payload, b"one");
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn unsegmented_user_data_is_returned_at_once() {
        let mut r = Reassembler::new(1);
        let plain = UserData { header: None, payload: b"hello" };
        assert_eq!(r.push("a", &plain), Some(Reassembled { ports: None, payload: b"hello".to_vec() }));
        let bytes = [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x01, 0x06];
        let done = r.push("a", &decode(&bytes)).unwrap();
        assert_eq!(done.ports, Some((2948, 9200)));
        assert_eq!(done.payload, [0x01, 0x06]);
    }

    #[test]
    fn the_oldest_pending_message_is_evicted() {
        let mut r = Reassembler::new(2);
        assert_eq!(r.push("a", &concat_user_data(1, 2, 1, b"1")), None);
        assert_eq!(r.push("a", &concat_user_data(2, 2, 1, b"2")), None);
        // Touching message 1 again does not make it younger.
        assert_eq!(r.push("a", &concat_user_data(1, 2, 1, b"1")), None);
        assert_eq!(r.push("a", &concat_user_data(3, 2, 1, b"3")), None);
        assert_eq!(r.pending(), 2);
        // Message 1 was evicted, so its second segment starts it over (evicting message 2).
        assert_eq!(r.push("a", &concat_user_data(1, 2, 2, b"1")), None);
        assert_eq!(r.push("a", &concat_user_data(2, 2, 2, b"2")), None);
        assert_eq!(r.pending(), 2);
        let done = r.push("a", &concat_user_data(2, 2, 1, b"2")).unwrap();
        assert_eq!(done.payload, b"22");

        let mut zero = Reassembler::new(0);
        assert_eq!(zero.push("a", &concat_user_data(9, 2, 2, b"b")), None);
        assert_eq!(zero.push("a", &concat_user_data(9, 2, 1, b"a")).unwrap().payload, b"ab");
    }

    #[test]
    fn ports_come_from_the_first_segment_that_has_them() {
        let mut r = Reassembler::new(2);
        let second = UserData {
            header: Some(UserDataHeader {
                elements: vec![
                    InformationElement::Concat8 { reference: 5, total: 2, seq: 2 },
                    InformationElement::Ports8 { dst: 1, src: 2 },
                ],
            }),
            payload: b"b",
        };
        assert_eq!(r.push("a", &second), None);
        let done = r.push("a", &concat_user_data(5, 2, 1, b"a")).unwrap();
        assert_eq!(done, Reassembled { ports: Some((1, 2)), payload: b"ab".to_vec() });
    }
}
