//! One bare number per topic (built-in route `probe/{device}/{target}/rtt_ms`).
//! Input: `[probe/<device>/<target>/rtt_ms\n]<payload>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_decoder("value", "probe/rtr-1/8.8.8.8/rtt_ms", data);
});
