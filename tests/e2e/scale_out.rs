//! Scale-out on real servers: `schoolnet run` instances (`[shard] index`
//! 0..n-1 of n) share one mosquitto and one InfluxDB. Every simulated
//! message is stored by exactly one instance, every school is exported by
//! exactly one instance, and after one instance is stopped and started
//! again (persistent session, spool) nothing is lost. Both subscription
//! modes: per device (three instances, the broker filters) and wildcard
//! (four instances started together, each drops the others' messages as
//! `not_owned` before decoding).

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{expected_points, simulate, sum_metric, wait_for_points, Accounting, Collector};
use testkit::{signal, InfluxDb1, Mosquitto};

const INSTANCES: u32 = 3;

async fn start_shards(broker: &str, influx: &str) -> Vec<Collector> {
    let mut out = Vec::new();
    for index in 0..INSTANCES {
        let c = Collector::start_spooled(
            broker,
            influx,
            &format!(
                "\n[shard]\nindex = {index}\ncount = {INSTANCES}\nsubscribe = \"per_device\"\n"
            ),
        )
        .await;
        // start_spooled appends the section after [spool]; check the
        // instance really runs as a shard.
        let m = c.metrics().await;
        assert_eq!(
            sum_metric(
                &m,
                "schoolnet_shard_info",
                &[&format!("index=\"{index}\""), "count=\"3\""]
            ),
            1.0,
            "{}",
            c.process.log_tail()
        );
        out.push(c);
    }
    out
}

/// `school → exporting instances` from each instance's `schoolnet_school_up`.
async fn exported_schools(shards: &[Collector]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in shards.iter().enumerate() {
        for line in c.metrics().await.lines() {
            if let Some(rest) = line.strip_prefix("schoolnet_school_up{") {
                let school = rest
                    .split("school=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("school label")
                    .to_string();
                out.entry(school).or_default().push(i);
            }
        }
    }
    out
}

async fn processed(c: &Collector, outcome: &str) -> u64 {
    c.metric_sum(
        "schoolnet_collector_messages_total",
        &[&format!("outcome=\"{outcome}\"")],
    )
    .await as u64
}

/// Messages that stored something: `ok`, or `partial` when some values were
/// refused. A second simulator run starts its devices' counters afresh, so
/// the first Telegraf `net` message of each series in it is an implausible
/// jump from the first run's last value (`implausible_rate`, the message
/// `partial`): stored, minus the bogus counters.
async fn stored(c: &Collector) -> u64 {
    processed(c, "ok").await + processed(c, "partial").await
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_subscribed_per_device_split_the_fleet_exactly_once_and_survive_a_restart()
{
    let broker = Mosquitto::builder().persistence(true).start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let mut shards = start_shards(&broker.url, &influx.url).await;

    // Every school in exactly one exporter, and each instance has some.
    let exported = exported_schools(&shards).await;
    assert_eq!(exported.len(), 216, "{exported:?}");
    let twice: Vec<_> = exported.iter().filter(|(_, v)| v.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "schools exported more or less than once: {twice:?}"
    );
    for (i, shard) in shards.iter().enumerate() {
        let n = exported.values().filter(|v| v[0] == i).count();
        let owned = shard.metric_sum("schoolnet_shard_schools", &[]).await as usize;
        assert_eq!(n, owned, "instance {i}");
        assert!(n > 0, "instance {i} exports no school");
    }

    // Every message processed by exactly one instance.
    let report = simulate(
        &broker.url,
        &["--schools", "216", "--rate", "0", "--count", "3000"],
    )
    .await;
    let mut expected = expected_points(&report);
    wait_for_points(
        &influx,
        &expected,
        Accounting::Exact,
        Duration::from_secs(60),
    )
    .await;
    let mut ok = Vec::new();
    for (i, c) in shards.iter().enumerate() {
        // Sharded, the exposition passes the Prometheus project's lint too.
        c.assert_promtool_clean().await;
        ok.push(stored(c).await);
        assert_eq!(
            processed(c, "not_owned").await,
            0,
            "per-device subscriptions"
        );
        assert_eq!(
            processed(c, "rejected").await,
            0,
            "{}",
            c.process.log_tail()
        );
        assert_eq!(
            ok[i],
            share(&report, &exported, i),
            "instance {i}: its schools' messages"
        );
    }
    eprintln!("scale-out: {} messages split {ok:?}", report.sent);
    assert_eq!(ok.iter().sum::<u64>(), report.sent, "{ok:?}");

    // Instance 1 stops (SIGTERM) while the fleet keeps publishing, then
    // comes back: its persistent session held its devices' messages.
    shards[1].kill(signal::SIGTERM);
    let status = shards[1].process.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{}", shards[1].process.log_tail());
    let lwt_before = [lwt(&shards[0]).await, 0, lwt(&shards[2]).await];
    let second = simulate(
        &broker.url,
        &[
            "--schools",
            "216",
            "--rate",
            "0",
            "--count",
            "3000",
            "--seed",
            "2",
        ],
    )
    .await;
    shards[1].restart().await;
    for (m, schools) in expected_points(&second) {
        for (school, n) in schools {
            *expected
                .entry(m.clone())
                .or_default()
                .entry(school)
                .or_default() += n;
        }
    }
    wait_for_points(
        &influx,
        &expected,
        Accounting::Exact,
        Duration::from_secs(60),
    )
    .await;
    // The restarted process counts from 0. Besides what the broker queued
    // for its session, re-subscribing gets it each of its devices' retained
    // LWT once more (MQTT sends retained messages on every SUBSCRIBE).
    let mut delta = Vec::new();
    let mut lwt_delta = Vec::new();
    for (i, c) in shards.iter().enumerate() {
        let before = if i == 1 { 0 } else { ok[i] };
        delta.push(stored(c).await - before);
        lwt_delta.push(lwt(c).await - lwt_before[i]);
    }
    let status_sent = second.sent_by_format.get("status").copied().unwrap_or(0);
    let retained = status_sent - lwt_delta[0] - lwt_delta[2];
    eprintln!(
        "scale-out: second batch of {} split {delta:?} while instance 1 was down ({retained} retained LWT re-sent to it)",
        second.sent
    );
    assert_eq!(lwt_delta[1], 2 * retained, "queued + retained LWT");
    for (i, processed) in delta.iter().enumerate() {
        let resent = if i == 1 { retained } else { 0 };
        assert_eq!(
            processed - resent,
            share(&second, &exported, i),
            "instance {i}"
        );
    }
}

/// Messages of `report` for the schools instance `i` exports.
fn share(
    report: &simulator::SimulateReport,
    exported: &BTreeMap<String, Vec<usize>>,
    i: usize,
) -> u64 {
    exported
        .iter()
        .filter(|(_, by)| by[0] == i)
        .map(|(school, _)| report.sent_by_school.get(school).copied().unwrap_or(0))
        .sum()
}

async fn lwt(c: &Collector) -> u64 {
    c.metric_sum(
        "schoolnet_collector_messages_total",
        &["outcome=\"ok\"", "route=\"lwt\""],
    )
    .await as u64
}

/// The default layout at start-up: four instances started at the same time
/// against one broker, each subscribed to the routes' wildcard filters.
/// Each becomes ready, together they export every school once, each stores
/// exactly its schools' messages and counts every other message as
/// `not_owned` (no reject, no dead letter), and a device no inventory
/// lists is rejected by exactly one of them.
#[tokio::test(flavor = "multi_thread")]
async fn four_instances_started_together_on_wildcards_drop_the_others_messages_as_not_owned() {
    const COUNT: u32 = 4;
    let broker = Mosquitto::builder().persistence(true).start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let mut starting = Vec::new();
    for index in 0..COUNT {
        let (b, i) = (broker.url.clone(), influx.url.clone());
        starting.push(tokio::spawn(async move {
            let t = std::time::Instant::now();
            let shard = format!("\n[shard]\nindex = {index}\ncount = {COUNT}\n");
            let c = Collector::start_spooled(&b, &i, &shard).await;
            (c, t.elapsed())
        }));
    }
    let mut shards = Vec::new();
    for (index, starting) in starting.into_iter().enumerate() {
        let (c, took) = starting.await.expect("instance started");
        eprintln!("scale-out: instance {index} of {COUNT} ready after {took:?}");
        shards.push(c);
    }

    let exported = exported_schools(&shards).await;
    assert_eq!(exported.len(), 216, "{exported:?}");
    assert!(
        exported.values().all(|by| by.len() == 1),
        "schools exported more or less than once: {exported:?}"
    );
    for (i, shard) in shards.iter().enumerate() {
        let n = exported.values().filter(|v| v[0] == i).count();
        assert!(n > 0, "instance {i} exports no school");
        assert_eq!(
            n,
            shard.metric_sum("schoolnet_shard_schools", &[]).await as usize
        );
    }

    let report = simulate(
        &broker.url,
        &["--schools", "216", "--rate", "0", "--count", "2000"],
    )
    .await;
    wait_for_points(
        &influx,
        &expected_points(&report),
        Accounting::Exact,
        Duration::from_secs(60),
    )
    .await;
    let mut split = Vec::new();
    for (i, c) in shards.iter().enumerate() {
        let mine = share(&report, &exported, i);
        let log = c.process.log_tail();
        assert_eq!(stored(c).await, mine, "instance {i}: its schools' messages");
        assert_eq!(
            processed(c, "not_owned").await,
            report.sent - mine,
            "instance {i}: every other message, dropped"
        );
        assert_eq!(processed(c, "rejected").await, 0, "{log}");
        let dead = c.dead_letters().await;
        assert_eq!(dead["entries"].as_array().map(Vec::len), Some(0), "{dead}");
        split.push(mine);
    }
    eprintln!(
        "scale-out: {} messages stored {split:?}, each instance received all",
        report.sent
    );
    assert_eq!(split.iter().sum::<u64>(), report.sent);

    // A device in no inventory: one instance (by hash of its id) rejects
    // it, the others count it as not_owned.
    let not_owned_before: Vec<u64> = per_instance(&shards, "not_owned").await;
    support::mosquitto_pub(&broker.url, "tele/rtr-unlisted-7/LWT", "Online");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rejected = per_instance(&shards, "rejected").await;
        let not_owned = per_instance(&shards, "not_owned").await;
        let new_not_owned: u64 =
            not_owned.iter().sum::<u64>() - not_owned_before.iter().sum::<u64>();
        if rejected.iter().sum::<u64>() + new_not_owned == u64::from(COUNT) {
            assert_eq!(
                rejected.iter().filter(|&&r| r == 1).count(),
                1,
                "{rejected:?}"
            );
            assert_eq!(new_not_owned, u64::from(COUNT) - 1, "{not_owned:?}");
            let i = rejected.iter().position(|&r| r == 1).unwrap();
            let dead = shards[i].dead_letters().await;
            assert_eq!(dead["entries"][0]["reason"], "unknown_device", "{dead}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the unlisted device's message: rejected {rejected:?}, not_owned {not_owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `schoolnet_collector_messages_total{outcome}` of each instance.
async fn per_instance(shards: &[Collector], outcome: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for c in shards {
        out.push(processed(c, outcome).await);
    }
    out
}
