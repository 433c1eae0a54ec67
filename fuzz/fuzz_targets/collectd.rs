//! collectd `write_mqtt` payloads (`<epoch>:<v1>[:<v2>…]`, trailing NUL).
//! Input: `[collectd/<device>/<plugin>/<type>\n]<payload>`; without a topic
//! line the payload is an `interface-wan/if_octets` message.
//! Decoded both as the built-in route says (`store_rates = true`) and with
//! raw counters (`store_rates = false`).
#![no_main]

use collector::decode::Format;
use libfuzzer_sys::fuzz_target;
use schoolnet_fuzz::{decode_checked, route_input};

fuzz_target!(|data: &[u8]| {
    let (route, vars, payload) =
        route_input("collectd", "collectd/rtr-1/interface-wan/if_octets", data);
    decode_checked(&route.format, route, &vars, payload);
    if let Format::Collectd { store_rates } = route.format {
        let flipped = Format::Collectd {
            store_rates: !store_rates,
        };
        decode_checked(&flipped, route, &vars, payload);
    }
});
