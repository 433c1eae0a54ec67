//! Differential: the `influx` decoder's line protocol parser
//! (`collector::line_protocol::parse`) against the `influxdb-line-protocol`
//! crate it replaced and keeps as its oracle. Input: any bytes; UTF-8 text
//! is parsed by both, which must agree line by line (see
//! `schoolnet_fuzz::line_protocol_diff`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        schoolnet_fuzz::line_protocol_diff(text);
    }
});
