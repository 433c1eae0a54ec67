//! `schoolnet demo`: the whole pipeline in one process with nothing to set
//! up — an embedded MQTT broker, the simulated 216-school sample fleet
//! publishing in several real formats at real-time intervals, the collector
//! and the exporter. Optionally writes history to an InfluxDB.

mod broker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use collector::config::{
    compile_routes, default_routes, Config, ExporterConfig, InfluxApi, InfluxConfig,
    InventoryConfig, LimitsConfig, MqttConfig, Validated,
};
use collector::spool::{Overflow, SpoolConfig};
use tokio::sync::oneshot;

/// The demo spool's size bound.
const DEMO_SPOOL_BYTES: u64 = 256 << 20;

use crate::cli::{ApiArg, DemoArgs};
use simulator::SimulateOptions;

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let inventory = simulator::sample_inventory().context("built-in sample inventory")?;
    broker::start(args.mqtt_listen)?;
    let broker_url = format!("mqtt://{}", args.mqtt_listen);

    let influx = args.influx_url.as_ref().map(|url| InfluxConfig {
        url: url.clone(),
        api: match args.influx_api {
            ApiArg::V1 => InfluxApi::V1,
            ApiArg::V2 => InfluxApi::V2,
        },
        database: args.influx_db.clone(),
        bucket: args.influx_db.clone(),
        ..InfluxConfig::default()
    });
    let config = Config {
        mqtt: MqttConfig {
            url: broker_url.clone(),
            client_id: "schoolnet-demo-collector".into(),
            // The embedded broker keeps no sessions across runs anyway.
            clean_session: true,
            ..MqttConfig::default()
        },
        inventory: InventoryConfig {
            schools: PathBuf::from("<built-in>/schools.csv"),
            devices: PathBuf::from("<built-in>/devices.csv"),
        },
        routes: Vec::new(),
        influx,
        exporter: ExporterConfig {
            listen: args.listen,
            ..ExporterConfig::default()
        },
        limits: LimitsConfig::default(),
        // History is always spooled, so nothing is lost while no InfluxDB
        // is given (or it is down). Bounded: the oldest is dropped when full.
        spool: Some(SpoolConfig {
            max_bytes: DEMO_SPOOL_BYTES,
            segment_bytes: 8 << 20,
            overflow: Overflow::DropOldest,
            ..SpoolConfig::with_dir(args.spool_dir.clone())
        }),
        shard: Default::default(),
        env_overrides: Default::default(),
    };
    let validated = Validated {
        routes: compile_routes(&default_routes())?,
        inventory: inventory.clone(),
        config,
    };

    let shutdown = crate::shutdown::on_signals();
    // The embedded broker logs each client's disconnect as an ERROR: on a
    // clean stop those are not errors, so it goes quiet once stopping begins.
    let muted = shutdown.clone();
    tokio::spawn(async move {
        muted.cancelled().await;
        crate::logging::mute_embedded_broker();
    });
    let (started_tx, started_rx) = oneshot::channel();
    let app = tokio::spawn(crate::app::run(
        validated,
        shutdown.clone(),
        Some(started_tx),
        None,
    ));
    let started = match started_rx.await {
        Ok(s) => s,
        // The pipeline failed before listening: report its error.
        Err(_) => return app.await?.map(|()| ExitCode::FAILURE),
    };

    let schools = args
        .schools
        .unwrap_or(inventory.schools().len())
        .min(inventory.schools().len());
    let addr = started.exporter_addr;
    println!("schoolnet demo is running:");
    println!("  embedded MQTT broker   {broker_url}  (publish your own devices here too)");
    println!("  simulated fleet        {schools} schools, real-time intervals, formats collectd / influx / json / value / status");
    println!("  status page            http://{addr}/");
    println!("  Prometheus metrics     http://{addr}/metrics");
    println!("  school states (JSON)   http://{addr}/api/schools");
    println!("  rejected messages      http://{addr}/api/dead-letters");
    println!("  history                {}", started.history);
    if args.influx_url.is_none() {
        println!(
            "                         (add --influx-url to write it to a database; see `schoolnet spool status --dir {}`)",
            args.spool_dir.display()
        );
    }
    println!("Press Ctrl-C to stop.");

    let opts = SimulateOptions {
        broker: broker_url,
        schools: Some(schools),
        rate: None,
        client_id: "schoolnet-demo-fleet".into(),
        progress: false,
        ..SimulateOptions::default()
    };
    let fleet_stop = shutdown.clone();
    let fleet = tokio::spawn(async move {
        simulator::run(Arc::new(inventory), opts, fleet_stop.cancelled_owned()).await
    });
    app.await.context("pipeline task panicked")??;
    match fleet.await.context("simulator task panicked")? {
        Ok(report) => {
            report.print_table(&mut std::io::stdout().lock())?;
        }
        Err(e) => eprintln!("simulator: {e:#}"),
    }
    Ok(ExitCode::SUCCESS)
}
