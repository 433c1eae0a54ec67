//! Telegraf line protocol (`outputs.mqtt`, `data_format = "influx"`).
//! Input: `[telegraf/<device>/<name>\n]<payload>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schoolnet_fuzz::fuzz_decoder("influx", "telegraf/rtr-1/net", data);
});
