//! Shared fixture: a tiny inventory and a fixed set of samples at fixed times.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;

use collector::config::ExporterConfig;
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::sample::{Field, FieldValue, Measurement, Sample, StatusEvent};
use exporter::{Exporter, ManualClock};
use prometheus::Registry;

/// 2023-11-14T22:13:20Z.
pub const T0: f64 = 1_700_000_000.0;

// S2's name needs escaping in a label value (quote and backslash).
pub const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    NX-001,Babek School 1,Babek,39.15,45.45,100\n\
    NX-002,\"Julfa \"\"Star\"\" School \\ East\",Julfa,38.96,45.63,50\n\
    NX-003,Ordubad School 3,Ordubad,38.91,46.02,20\n";

// NX-001: router + ONT, both reporting. NX-002: router offline (LWT), ONT
// reporting. NX-003: router never heard from (unknown).
pub const DEVICES: &str = "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
    ont-001,NX-001,ont,60,,\n\
    rtr-001,NX-001,router,10,ont-001,wan\n\
    ont-002,NX-002,ont,60,,\n\
    rtr-002,NX-002,router,10,ont-002,wan\n\
    rtr-003,NX-003,router,10,,wan\n";

pub struct Fixture {
    pub exporter: Exporter,
    pub clock: Arc<ManualClock>,
    pub inventory: Arc<Inventory>,
    pub metrics: PipelineMetrics,
    pub dead_letters: Arc<DeadLetters>,
}

/// An exporter at `T0` on `registry` with the pipeline metrics in `pipeline`.
pub fn fixture(registry: Registry, metrics: PipelineMetrics) -> Fixture {
    fixture_with(registry, metrics, ExporterConfig::default())
}

/// [`fixture`] with an exporter configured by `config`.
pub fn fixture_with(
    registry: Registry,
    metrics: PipelineMetrics,
    config: ExporterConfig,
) -> Fixture {
    let inventory =
        Arc::new(Inventory::from_csv_text(SCHOOLS, DEVICES).expect("fixture inventory"));
    let clock = Arc::new(ManualClock::new(T0));
    let dead_letters = Arc::new(DeadLetters::new(3));
    let exporter = Exporter::with_clock(
        inventory.clone(),
        registry,
        metrics.clone(),
        dead_letters.clone(),
        config,
        clock.clone(),
    );
    Fixture {
        exporter,
        clock,
        inventory,
        metrics,
        dead_letters,
    }
}

/// An exporter on a fresh registry holding only the exporter's metrics.
pub fn isolated() -> Fixture {
    fixture(Registry::new(), PipelineMetrics::unregistered())
}

fn sample(
    inv: &Inventory,
    device: &str,
    m: Measurement,
    key: Option<&str>,
    fields: &[(Field, FieldValue)],
) -> Sample {
    Sample {
        measurement: m,
        time_ns: (T0 as i64) * 1_000_000_000,
        device: inv.device(device).expect("fixture device").clone(),
        key: key.map(Arc::from),
        fields: fields.to_vec(),
    }
}

impl Fixture {
    /// Feeds the fixed messages: at T0+5 s NX-001's router and ONT and
    /// NX-002's ONT report, at T0+6 s NX-002's router's will arrives; the
    /// clock then stands at T0+10 s.
    pub fn feed(&self) {
        use Field::*;
        use FieldValue::{Counter as C, Float as F};
        let inv = &self.inventory;
        self.clock.set(T0 + 5.0);
        self.exporter.record_samples(&[
            sample(
                inv,
                "rtr-001",
                Measurement::Interface,
                Some("wan"),
                &[
                    (RxBytes, C(123_456_789_012)),
                    (TxBytes, C(9_876_543_210)),
                    (RxPackets, C(100_000_000)),
                    (TxPackets, C(80_000_000)),
                    (RxErrors, C(3)),
                    (TxErrors, C(0)),
                    (RxDrops, C(42)),
                    (TxDrops, C(1)),
                    (RxBps, F(52_000_000.0)),
                    (TxBps, F(8_500_000.0)),
                    (OperUp, F(1.0)),
                    (Utilization, F(0.52)),
                ],
            ),
            sample(
                inv,
                "rtr-001",
                Measurement::Interface,
                Some("br-lan"),
                &[(RxBytes, C(5_000)), (OperUp, F(1.0))],
            ),
            sample(
                inv,
                "rtr-001",
                Measurement::System,
                None,
                &[
                    (CpuRatio, F(0.25)),
                    (MemUsedBytes, F(67_108_864.0)),
                    (MemTotalBytes, F(134_217_728.0)),
                    (UptimeS, F(86_400.0)),
                    (SystemTemperatureC, F(48.5)),
                    (Load1, F(0.42)),
                ],
            ),
            sample(
                inv,
                "rtr-001",
                Measurement::Probe,
                Some("8.8.8.8"),
                &[(RttS, F(0.0215)), (LossRatio, F(0.0)), (JitterS, F(0.0012))],
            ),
            sample(
                inv,
                "rtr-001",
                Measurement::Clients,
                None,
                &[(WifiClients, F(37.0)), (DhcpLeases, F(41.0))],
            ),
        ]);
        self.exporter.record_samples(&[sample(
            inv,
            "ont-001",
            Measurement::Optical,
            None,
            &[
                (RxDbm, F(-18.4)),
                (TxDbm, F(2.1)),
                (OltRxDbm, F(-21.7)),
                (OpticalTemperatureC, F(41.0)),
                (VoltageV, F(3.29)),
                (BiasMa, F(12.5)),
            ],
        )]);
        self.exporter.record_samples(&[sample(
            inv,
            "ont-002",
            Measurement::Optical,
            None,
            &[(RxDbm, F(-26.1)), (TxDbm, F(1.8))],
        )]);
        self.clock.set(T0 + 6.0);
        self.exporter.record_status(&StatusEvent {
            device: inv.device("rtr-002").unwrap().clone(),
            online: false,
            time_ns: (T0 as i64 + 6) * 1_000_000_000,
        });
        self.clock.set(T0 + 10.0);
    }
}

/// Drops the families whose values depend on the machine and the moment:
/// the scrape duration and the standard `process_*` metrics.
pub fn without_scrape_duration(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("schoolnet_exporter_scrape_duration_seconds"))
        .filter(|l| {
            let name = l
                .trim_start_matches("# HELP ")
                .trim_start_matches("# TYPE ");
            !name.starts_with("process_")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
