//! Fuzz target for `tern_codec::mms::Message::decode`: any input must decode or fail without
//! panicking, with the error offset inside the input, and whatever decodes must survive
//! encode -> decode unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::mms::Message;

fuzz_target!(|data: &[u8]| {
    match Message::decode(data) {
        Ok(message) => {
            let encoded = message.encode();
            let again = Message::decode(&encoded);
            assert_eq!(again.as_ref(), Ok(&message), "re-encoded as {encoded:02x?}");
        }
        Err(e) => assert!(e.offset <= data.len(), "error offset {} beyond {} bytes: {e}", e.offset, data.len()),
    }
});
