//! Fuzz target for `tern_codec::push::Push::decode`, the connectionless WSP push a handset or
//! gateway receives on port 2948: any input must decode or fail without panicking, with the
//! error offset inside the input; whatever decodes must survive encode -> decode unchanged; and
//! the body of a push of an MMS PDU goes on to `Message::decode` under the same promises, as the
//! receiving side does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::mms::Message;
use tern_codec::push::Push;

fuzz_target!(|data: &[u8]| {
    let push = match Push::decode(data) {
        Ok(push) => push,
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset {} beyond {} bytes: {e}", e.offset, data.len());
            return;
        }
    };
    let encoded = push.encode();
    let again = Push::decode(&encoded);
    assert_eq!(again.as_ref(), Ok(&push), "re-encoded as {encoded:02x?}");
    if push.is_mms() {
        match Message::decode(&push.body) {
            Ok(message) => {
                let encoded = message.encode();
                assert_eq!(Message::decode(&encoded).as_ref(), Ok(&message), "re-encoded as {encoded:02x?}");
            }
            Err(e) => assert!(e.offset <= push.body.len(), "error offset {} beyond the body: {e}", e.offset),
        }
    }
});
