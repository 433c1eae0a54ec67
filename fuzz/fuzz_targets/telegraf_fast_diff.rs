//! Differential: the `telegraf-json` decoder's hand-written fast reader
//! against serde_json, its fallback and oracle. Input: any bytes; where the
//! fast reader reads UTF-8 text as a document, serde_json must read the
//! same document (see `collector::decode::telegraf::fast_path_disagreement`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(both) = collector::decode::telegraf::fast_path_disagreement(text) {
            panic!("fast reader and serde_json disagree on {both}");
        }
    }
});
