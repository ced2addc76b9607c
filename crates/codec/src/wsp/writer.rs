//! Encoders for the WSP primitives (WAP-230 §8.4.2), appending to a `Vec<u8>`.

/// Appends a uintvar (7 bits an octet, most significant first).
pub fn uintvar(out: &mut Vec<u8>, value: u32) {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut v = value;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// Appends a uintvar holding a length; lengths above 32 bits cannot occur in a PDU we build.
pub fn uintvar_len(out: &mut Vec<u8>, len: usize) {
    uintvar(out, u32::try_from(len).unwrap_or(u32::MAX));
}

/// Appends a Short-integer (0..=127).
pub fn short_integer(out: &mut Vec<u8>, value: u8) {
    out.push(value | 0x80);
}

/// Appends a Long-integer with the fewest octets (at least one).
pub fn long_integer(out: &mut Vec<u8>, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|b| **b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends an Integer-value: Short-integer when it fits, Long-integer otherwise.
pub fn integer(out: &mut Vec<u8>, value: u64) {
    match u8::try_from(value) {
        Ok(v) if v < 0x80 => short_integer(out, v),
        _ => long_integer(out, value),
    }
}

/// Appends a Value-length (Short-length, or Length-quote and a uintvar).
pub fn value_length(out: &mut Vec<u8>, len: usize) {
    if len <= 30 {
        out.push(len as u8);
    } else {
        out.push(31);
        uintvar_len(out, len);
    }
}

/// Appends `value` preceded by its Value-length; `f` writes the value.
pub fn length_prefixed(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let mut value = Vec::new();
    f(&mut value);
    value_length(out, value.len());
    out.extend_from_slice(&value);
}

/// Appends a Text-string: the text and NUL, after a Quote when the first octet has the high bit
/// set (as the spec asks) or would otherwise be read as a length or a Quote (0x01..=0x1F, 0x7F).
pub fn text_string(out: &mut Vec<u8>, text: &[u8]) {
    if text.first().is_some_and(|b| *b >= 0x7F || (1..0x20).contains(b)) {
        out.push(0x7F);
    }
    out.extend_from_slice(text);
    out.push(0);
}

/// Appends a Quoted-string: `"`, the text, NUL.
pub fn quoted_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(0x22);
    out.extend_from_slice(text);
    out.push(0);
}

/// Appends Token-text (or any text known not to start with a high octet): the text, NUL.
pub fn token_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsp::Reader;

    #[test]
    fn integers_round_trip_through_the_reader() {
        for v in [0u64, 1, 127, 128, 255, 256, 29696, 0x479F_D596, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            integer(&mut out, v);
            assert_eq!(Reader::new(&out).integer("t"), Ok(v));
        }
        for v in [0u32, 127, 128, 256, 1245, u32::MAX] {
            let mut out = Vec::new();
            uintvar(&mut out, v);
            assert_eq!(Reader::new(&out).uintvar("t"), Ok(v));
        }
        let mut out = Vec::new();
        uintvar(&mut out, 256);
        assert_eq!(out, [0x82, 0x00]);
    }

    #[test]
    fn value_length_switches_to_length_quote_above_30() {
        let mut out = Vec::new();
        value_length(&mut out, 30);
        value_length(&mut out, 31);
        assert_eq!(out, [30, 31, 31]);
    }

    #[test]
    fn text_string_quotes_a_high_first_octet() {
        let mut out = Vec::new();
        text_string(&mut out, "П".as_bytes());
        assert_eq!(out, [0x7F, 0xD0, 0x9F, 0x00]);
    }
}
