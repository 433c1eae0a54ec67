//! Route → decode → normalize → line protocol, for a sequence of messages.
//! Input: messages separated by the byte 0xFF, each `<topic>\n<payload>`;
//! see `schoolnet_fuzz::fuzz_pipeline` for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_pipeline(data);
});
