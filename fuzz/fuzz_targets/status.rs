//! Will / status topics: Tasmota `LWT`, Homie `$state`.
//! Input: `[tele/<device>/LWT\n]<payload>` or `homie/<device>/$state\n<payload>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_decoder("status", "tele/rtr-1/LWT", data);
});
