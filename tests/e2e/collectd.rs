//! A real collectd (the OpenWrt-style MQTT publisher) → mosquitto →
//! `schoolnet run` → InfluxDB 1.x and `/metrics`: its interfaces, load and
//! memory appear under the school the inventory assigns to its hostname.

use crate::support;

use std::time::Duration;

use support::Collector;
use testkit::{wait_until, Collectd, InfluxDb1, Mosquitto};

#[tokio::test(flavor = "multi_thread")]
async fn real_collectd_samples_land_under_the_right_school() {
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;

    // A one-school inventory whose router is this collectd's hostname.
    let inv = tempfile::tempdir().unwrap();
    std::fs::write(
        inv.path().join("schools.csv"),
        "school_id,name,district,lat,lon,uplink_mbps\nNX-900,Lab School,Julfa,38.95,45.63,100\n",
    )
    .unwrap();
    std::fs::write(
        inv.path().join("devices.csv"),
        "device_id,school_id,role,expected_interval_s,parent,wan_interface\nlab-router,NX-900,router,1,,lo\n",
    )
    .unwrap();
    let collector = Collector::start(
        &broker.url,
        Some(inv.path()),
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
            influx.url
        ),
    )
    .await;
    let _collectd = Collectd::builder()
        .hostname("lab-router")
        .mqtt(&broker)
        .interval(Duration::from_secs(1))
        .start()
        .await;

    // Rates need two readings, so wait for a couple of intervals of data.
    wait_until("collectd interface samples in InfluxDB", Duration::from_secs(30), || {
        let influx = &influx;
        async move {
            let n = influx
                .count(
                    "schoolnet",
                    "SELECT count(rx_bytes) FROM interface WHERE school = 'NX-900' AND interface = 'lo' AND district = 'Julfa'",
                )
                .await;
            if n >= 3 {
                Ok(())
            } else {
                Err(format!("{n} interface points for lo so far"))
            }
        }
    })
    .await;
    let system = influx
        .count(
            "schoolnet",
            "SELECT count(load1) FROM system WHERE school = 'NX-900' AND device = 'lab-router'",
        )
        .await;
    assert!(system >= 1, "load average from collectd's load plugin");
    let memory = influx
        .count(
            "schoolnet",
            "SELECT count(mem_used_bytes) FROM system WHERE school = 'NX-900'",
        )
        .await;
    assert!(memory >= 1, "memory-used from collectd's memory plugin");

    // The live view has the same identity, and lo counts as the WAN here,
    // so utilization against the 100 Mbit/s contract is derived.
    let metrics = collector.metrics().await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("schoolnet_interface_receive_bytes_total{")
                && l.contains("school=\"NX-900\"")
                && l.contains("interface=\"lo\"")
        ),
        "interface counter for lo in /metrics"
    );
    assert!(
        metrics.contains("schoolnet_interface_utilization_ratio{"),
        "utilization derived"
    );
    assert!(
        metrics.contains("schoolnet_school_up{school=\"NX-900\",district=\"Julfa\"} 1"),
        "school is up"
    );
}

/// The shipped OpenWrt config (deploy/devices/openwrt/collectd.conf) run by
/// the real collectd verbatim, but for the broker's `Host` and `Port`: its
/// interfaces, load, memory, CPU, uptime and ping land under the school of
/// its Hostname (rtr-nx-001 in the sample inventory) through the built-in
/// `collectd` route.
#[tokio::test(flavor = "multi_thread")]
async fn shipped_openwrt_config_lands_on_the_built_in_route() {
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let collector = Collector::start(
        &broker.url,
        None, // the sample inventory: rtr-nx-001 is NX-001's router
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
            influx.url
        ),
    )
    .await;
    let shipped = std::fs::read_to_string(
        std::path::Path::new(support::ROOT).join("deploy/devices/openwrt/collectd.conf"),
    )
    .unwrap();
    let host_line = "Host \"mqtt.schoolnet.example\"";
    let port_line = "Port \"1883\"";
    assert_eq!(
        shipped.matches(host_line).count(),
        1,
        "one broker Host line"
    );
    assert_eq!(
        shipped.matches(port_line).count(),
        1,
        "one broker Port line"
    );
    let config = shipped
        .replace(host_line, "Host \"127.0.0.1\"")
        .replace(port_line, &format!("Port \"{}\"", broker.port));
    let _collectd = Collectd::builder().device_config(config).start().await;

    // Interval 10 s: a rate needs two readings, so up to ~25 s. The probe is
    // asked for its loss ratio, which comes with or without an answer
    // (the round-trip time only with one).
    let q = |what: &str| {
        format!(
            "SELECT count({what}) FROM {} WHERE school = 'NX-001' AND device = 'rtr-nx-001'",
            if what == "loss_ratio" {
                "probe"
            } else if what.ends_with("_bps") {
                "interface"
            } else {
                "system"
            }
        )
    };
    for field in [
        "rx_bps",
        "load1",
        "mem_used_bytes",
        "cpu_ratio",
        "uptime_s",
        "loss_ratio",
    ] {
        wait_until(
            &format!("{field} from the shipped config"),
            Duration::from_secs(45),
            || {
                let (influx, q) = (&influx, q(field));
                async move {
                    let n = influx.count("schoolnet", &q).await;
                    if n >= 1 {
                        Ok(())
                    } else {
                        Err(format!("no {field} yet"))
                    }
                }
            },
        )
        .await;
    }
    let metrics = collector.metrics().await;
    assert!(
        metrics.contains("schoolnet_probe_loss_ratio{school=\"NX-001\",district=\"Babek\",device=\"rtr-nx-001\",target=\"192.0.2.1\"}"),
        "ping target of the shipped config in /metrics"
    );
    assert_eq!(
        support::sum_metric(
            &metrics,
            "schoolnet_collector_messages_total",
            &["outcome=\"rejected\""]
        ),
        0.0,
        "nothing the shipped config publishes is rejected"
    );
}
