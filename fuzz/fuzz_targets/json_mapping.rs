//! JSON with a configured field mapping: the built-in `ont-optical` and
//! `mikrotik-system` routes. Input: `[ont/<device>/optical\n]<payload>` or
//! `mikrotik/<device>/system\n<payload>`; without a topic line the payload
//! is an ONT optical reading.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_decoder("json", "ont/ont-1/optical", data);
});
