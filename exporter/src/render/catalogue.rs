//! The metric catalogue: name, help, type, label names and unit scaling of
//! every family the live-state collector exports, and which of them the
//! default detail level leaves out. One place to read (and review) the
//! exporter's whole metric surface.
//!
//! `[exporter] detail = "standard"` (the default) keeps a national
//! inventory within 20 series per school: what alerts, recording rules and
//! the dashboards' live panels read. `"full"` adds the rest. The decision
//! per family, and why, is in docs/data-model.md ("Detail levels").

use collector::config::Detail;
use collector::sample::Field;

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A family's fixed description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

const SCHOOL: &[&str] = &["school", "district"];
const DEVICE_ROLE: &[&str] = &["school", "district", "device", "role"];
const DEVICE: &[&str] = &["school", "district", "device"];
const INTERFACE: &[&str] = &["school", "district", "device", "interface"];
const PROBE: &[&str] = &["school", "district", "device", "target"];

const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Spec {
    Spec {
        name,
        help,
        kind: Kind::Gauge,
        labels,
    }
}

const fn counter(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Spec {
    Spec {
        name,
        help,
        kind: Kind::Counter,
        labels,
    }
}

pub const SCHOOL_INFO: Spec = gauge(
    "schoolnet_school_info",
    "Inventory data of a school; always 1.",
    &["school", "name", "district", "lat", "lon", "uplink_mbps"],
);
pub const SCHOOL_UP: Spec = gauge(
    "schoolnet_school_up",
    "1 if the school is up or degraded (its router reports and is not offline); 0 if down or unknown (no sign of life yet).",
    SCHOOL,
);
pub const SCHOOL_STATE: Spec = gauge(
    "schoolnet_school_state",
    "Health state of the school with its cause: up; degraded (probe_loss, interface_errors, optical_power); down (lwt_offline, stale, link_down, upstream_down); unknown (no message yet). detail = standard: only the current state, value 1; full: one-hot over every state and cause, 0 for the others.",
    &["school", "district", "state", "cause"],
);
pub const SCHOOL_OUTAGE_STARTED: Spec = gauge(
    "schoolnet_school_outage_started_timestamp_seconds",
    "Unix time the school's current outage started; 0 while it is not in an outage.",
    SCHOOL,
);
pub const SCHOOL_OUTAGES: Spec = counter(
    "schoolnet_school_outages_total",
    "Outages the school has had since the exporter started (for flapping alerts).",
    SCHOOL,
);
pub const SCHOOL_LAST_SEEN: Spec = gauge(
    "schoolnet_school_last_seen_timestamp_seconds",
    "Unix time the collector last received telemetry from any device of the school (absent before the first).",
    SCHOOL,
);
pub const DEVICE_UP: Spec = gauge(
    "schoolnet_device_up",
    "1 if the device reported within stale_factor x its expected interval and is not offline; 0 if down or unknown (never heard from).",
    DEVICE_ROLE,
);
pub const DEVICE_LAST_SEEN: Spec = gauge(
    "schoolnet_device_last_seen_timestamp_seconds",
    "Unix time the collector last received telemetry or an online status from the device (absent before the first). detail = standard: OLTs only.",
    DEVICE_ROLE,
);
pub const DEVICE_PARENT: Spec = gauge(
    "schoolnet_device_parent_info",
    "The device's shared upstream parent in the fiber tree (devices.csv `parent` when that is an OLT or another school's device: an ONT's OLT), for alerts that name the schools behind a device; always 1.",
    &["school", "district", "device", "parent"],
);

pub const STARTUP_GRACE: Spec = gauge(
    "schoolnet_exporter_startup_grace",
    "1 during the exporter's start-up grace period (exporter.unknown_grace_s), when schools and devices not heard from yet are not counted as outages; 0 afterwards.",
    &[],
);

/// The school- and device-level families, in the order the collector builds them.
pub const FIXED: [Spec; 10] = [
    SCHOOL_INFO,
    SCHOOL_UP,
    SCHOOL_STATE,
    SCHOOL_LAST_SEEN,
    SCHOOL_OUTAGE_STARTED,
    SCHOOL_OUTAGES,
    DEVICE_UP,
    DEVICE_LAST_SEEN,
    DEVICE_PARENT,
    STARTUP_GRACE,
];

/// Family of a canonical field, and the factor from the canonical unit to
/// the exported base unit.
pub fn field_spec(field: Field) -> (Spec, f64) {
    use Field::*;
    let spec = match field {
        RxBytes => counter(
            "schoolnet_interface_receive_bytes_total",
            "Bytes received on the interface.",
            INTERFACE,
        ),
        TxBytes => counter(
            "schoolnet_interface_transmit_bytes_total",
            "Bytes transmitted on the interface.",
            INTERFACE,
        ),
        RxPackets => counter(
            "schoolnet_interface_receive_packets_total",
            "Packets received on the interface.",
            INTERFACE,
        ),
        TxPackets => counter(
            "schoolnet_interface_transmit_packets_total",
            "Packets transmitted on the interface.",
            INTERFACE,
        ),
        RxErrors => counter(
            "schoolnet_interface_receive_errors_total",
            "Receive errors on the interface.",
            INTERFACE,
        ),
        TxErrors => counter(
            "schoolnet_interface_transmit_errors_total",
            "Transmit errors on the interface.",
            INTERFACE,
        ),
        RxDrops => counter(
            "schoolnet_interface_receive_drops_total",
            "Received packets dropped on the interface.",
            INTERFACE,
        ),
        TxDrops => counter(
            "schoolnet_interface_transmit_drops_total",
            "Packets dropped before transmission on the interface.",
            INTERFACE,
        ),
        // Base unit bytes (Prometheus convention, promtool lint): bps / 8.
        RxBps => gauge(
            "schoolnet_interface_receive_bytes_per_second",
            "Receive rate of the interface as last reported or derived (multiply by 8 for bit/s).",
            INTERFACE,
        ),
        TxBps => gauge(
            "schoolnet_interface_transmit_bytes_per_second",
            "Transmit rate of the interface as last reported or derived (multiply by 8 for bit/s).",
            INTERFACE,
        ),
        OperUp => gauge(
            "schoolnet_interface_oper_up",
            "1 if the interface is operationally up.",
            INTERFACE,
        ),
        Utilization => gauge(
            "schoolnet_interface_utilization_ratio",
            "Traffic of the interface as a ratio (0-1) of the school's contracted uplink.",
            INTERFACE,
        ),
        RxDbm => gauge(
            "schoolnet_optical_receive_power_dbm",
            "Optical receive power at the device, dBm.",
            DEVICE,
        ),
        TxDbm => gauge(
            "schoolnet_optical_transmit_power_dbm",
            "Optical transmit power of the device, dBm.",
            DEVICE,
        ),
        OltRxDbm => gauge(
            "schoolnet_optical_olt_receive_power_dbm",
            "Optical power the OLT receives from this ONT, dBm.",
            DEVICE,
        ),
        OpticalTemperatureC => gauge(
            "schoolnet_optical_temperature_celsius",
            "Optical transceiver temperature.",
            DEVICE,
        ),
        VoltageV => gauge(
            "schoolnet_optical_supply_voltage_volts",
            "Optical transceiver supply voltage.",
            DEVICE,
        ),
        BiasMa => gauge(
            "schoolnet_optical_bias_current_amperes",
            "Optical transmitter laser bias current.",
            DEVICE,
        ),
        CpuRatio => gauge(
            "schoolnet_device_cpu_usage_ratio",
            "CPU busy ratio (0-1).",
            DEVICE_ROLE,
        ),
        MemUsedBytes => gauge(
            "schoolnet_device_memory_used_bytes",
            "Memory in use.",
            DEVICE_ROLE,
        ),
        MemTotalBytes => gauge(
            "schoolnet_device_memory_total_bytes",
            "Total memory.",
            DEVICE_ROLE,
        ),
        UptimeS => gauge(
            "schoolnet_device_uptime_seconds",
            "Seconds since the device booted.",
            DEVICE_ROLE,
        ),
        SystemTemperatureC => gauge(
            "schoolnet_device_temperature_celsius",
            "Device (board or CPU) temperature.",
            DEVICE_ROLE,
        ),
        Load1 => gauge(
            "schoolnet_device_load1",
            "One-minute load average.",
            DEVICE_ROLE,
        ),
        RttS => gauge(
            "schoolnet_probe_rtt_seconds",
            "Round-trip time to the probe target.",
            PROBE,
        ),
        LossRatio => gauge(
            "schoolnet_probe_loss_ratio",
            "Packet loss to the probe target (0-1).",
            PROBE,
        ),
        JitterS => gauge(
            "schoolnet_probe_jitter_seconds",
            "Round-trip time jitter to the probe target.",
            PROBE,
        ),
        WifiClients => gauge(
            "schoolnet_clients_wifi",
            "Associated Wi-Fi clients.",
            DEVICE,
        ),
        DhcpLeases => gauge(
            "schoolnet_clients_dhcp_leases",
            "Active DHCP leases.",
            DEVICE,
        ),
    };
    let scale = match field {
        RxBps | TxBps => 1.0 / 8.0,
        BiasMa => 1e-3,
        _ => 1.0,
    };
    (spec, scale)
}

/// Whether `detail` exports the family of `field`.
///
/// Left to `full`: what Prometheus derives itself (the exporter's byte
/// rates: `rate()` of the byte counters), what is read per school on a
/// drill-down rather than across the nation (packet and drop counters,
/// optical transmit power, temperature, supply voltage and bias, device
/// memory, load and temperature, probe jitter, client counts; InfluxDB
/// keeps all of them for the dashboards' history panels). Kept: the inputs
/// of alerts and recording rules and the national views (traffic,
/// utilization, errors, link state, receive power, latency and loss, CPU
/// and uptime).
pub fn exported(field: Field, detail: Detail) -> bool {
    use Field::*;
    detail == Detail::Full
        || matches!(
            field,
            RxBytes
                | TxBytes
                | RxErrors
                | TxErrors
                | OperUp
                | Utilization
                | RxDbm
                | OltRxDbm
                | CpuRatio
                | UptimeS
                | RttS
                | LossRatio
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_exports_every_field_and_standard_what_the_alerts_read() {
        for &f in Field::ALL {
            assert!(exported(f, Detail::Full), "{f:?}");
        }
        for f in [
            Field::RxBytes,
            Field::Utilization,
            Field::OperUp,
            Field::RxDbm,
            Field::LossRatio,
        ] {
            assert!(exported(f, Detail::Standard), "{f:?}: an alert reads it");
        }
        for f in [
            Field::RxBps,
            Field::TxBps,
            Field::BiasMa,
            Field::MemTotalBytes,
        ] {
            assert!(!exported(f, Detail::Standard), "{f:?}");
        }
    }

    #[test]
    fn every_field_family_is_distinct_and_well_formed() {
        let mut names: Vec<&str> = FIXED.iter().map(|s| s.name).collect();
        for &f in Field::ALL {
            let (spec, _) = field_spec(f);
            assert!(spec.name.starts_with("schoolnet_"), "{}", spec.name);
            assert_eq!(
                spec.kind == Kind::Counter,
                spec.name.ends_with("_total"),
                "{}",
                spec.name
            );
            match f.measurement().key_tag() {
                Some(k) => assert_eq!(spec.labels.last(), Some(&k), "{}", spec.name),
                None => {
                    assert!(!spec.labels.contains(&"interface") && !spec.labels.contains(&"target"))
                }
            }
            names.push(spec.name);
        }
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate family name");
    }

    #[test]
    fn units_are_converted_to_base_units() {
        assert_eq!(field_spec(Field::BiasMa).1, 1e-3);
        assert_eq!(field_spec(Field::RxBps).1 * 8.0, 1.0);
        assert_eq!(field_spec(Field::RttS).1, 1.0);
    }
}
