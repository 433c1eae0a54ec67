//! Telegraf JSON serializer output, single metric or `{"metrics":[…]}`.
//! Input: `[telegraf-json/<device>/<name>\n]<payload>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_decoder("telegraf-json", "telegraf-json/rtr-1/net", data);
});
