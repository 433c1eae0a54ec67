//! The page's "Troubleshooting by symptom" on real servers (the
//! walkthroughs' [`Lab`]: the page's broker users and ACL, inventory rows):
//! - clock skew: a collectd reading an hour ahead or ten days behind is a
//!   `bad_timestamp` dead letter worded as the page quotes it, and the
//!   school stays grey; two minutes behind is stored (the school turns
//!   green) and shows in `schoolnet_collector_lag_seconds` above 60 s;
//! - the Telegraf poller's own metrics: `unknown_device`, naming it;
//! - SNMP rows on Telegraf's default topic (the poller's name):
//!   `identity_mismatch`;
//! - a wrong topic (a level short, a level too many) passes the ACL and is
//!   on the broker, but reaches nothing: no message counted, no dead letter.

use super::acl::{password, publish_as, COLLECTOR_USER};
use super::lab::Lab;
use super::{page, PAGE};
use crate::support::sum_metric;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use testkit::{wait_until, ChildProcess};

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Publishes as `user` (its password from the lab) and checks the broker
/// took it.
fn publish(lab: &Lab, user: &str, topic: &str, payload: &str) {
    let out = publish_as(&lab.broker, user, &password(user), topic, payload);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dead_letter<'a>(letters: &'a Value, topic: &str, reason: &str) -> Option<&'a Value> {
    letters["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["topic"] == topic && e["reason"] == reason)
}

#[tokio::test(flavor = "multi_thread")]
async fn troubleshooting_symptoms_show_as_the_page_says() {
    let lab = Lab::start().await;
    let router = "rtr-nx-217";
    let poller = "telegraf-poller-nx";
    let uptime = format!("collectd/{router}/uptime/uptime");

    // Wrong topics first: if they reached the collector they would be
    // counted before everything below. They pass the ACL: the collector's
    // user sees them on the broker.
    let sub = ChildProcess::builder("/usr/bin/mosquitto_sub")
        .name("collector-sub")
        .args(["-h", "127.0.0.1", "-p", &lab.broker.port.to_string()])
        .args(["-u", COLLECTOR_USER, "-P", &password(COLLECTOR_USER)])
        .args(["-q", "1", "-v", "-t", "#"])
        .spawn();
    let wrong = [
        format!("collectd/{router}/uptime"),
        format!("collectd/{router}/interface-wan/if_octets/x"),
    ];
    for topic in &wrong {
        let mut n = 0;
        wait_until(
            &format!("{topic} on the broker"),
            Duration::from_secs(10),
            || {
                n += 1;
                let payload = format!("{}:{n}", now_s() as u64);
                publish(&lab, router, topic, &payload);
                let seen = sub.stdout().contains(&format!("{topic} {payload}"));
                async move {
                    if seen {
                        Ok(())
                    } else {
                        Err("not seen yet".to_string())
                    }
                }
            },
        )
        .await;
    }

    // Skewed clocks.
    let ahead = format!("{:.3}:12345", now_s() + 3600.0);
    let behind = format!("{:.3}:12345", now_s() - 10.0 * 86_400.0);
    publish(&lab, router, &uptime, &ahead);
    publish(&lab, router, &uptime, &behind);
    // The poller's own metric, and an SNMP row under the poller's name.
    let now_ns = (now_s() * 1e9) as u128;
    let own = format!("net,host={poller},interface=eth0 bytes_recv=1000i {now_ns}\n");
    publish(&lab, poller, &format!("telegraf/{poller}/net"), &own);
    let row = format!(
        "interface,agent_host=rtr-nx-219,host={poller},ifName=eth0 ifHCInOctets=1i,ifOperStatus=1i {now_ns}\n"
    );
    let default_topic = format!("telegraf/{poller}/interface");
    publish(&lab, poller, &default_topic, &row);

    let letters = wait_until("four dead letters", Duration::from_secs(20), || async {
        let letters = lab.collector.dead_letters().await;
        if letters["total"] == 4 {
            Ok(letters)
        } else {
            Err(letters.to_string())
        }
    })
    .await;
    let skewed: Vec<String> = letters["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["topic"] == uptime.as_str() && e["reason"] == "bad_timestamp")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    let future = "is more than 300s in the future";
    assert!(page().contains(future), "{PAGE} quotes {future:?}");
    assert!(skewed.iter().any(|d| d.contains(future)), "{skewed:?}");
    assert!(
        skewed
            .iter()
            .any(|d| d.contains("is more than 604800s in the past")),
        "{skewed:?}"
    );
    let unknown = dead_letter(
        &letters,
        &format!("telegraf/{poller}/net"),
        "unknown_device",
    )
    .unwrap_or_else(|| panic!("the poller's own metric: unknown_device\n{letters}"));
    let detail = unknown["detail"].as_str().unwrap();
    assert!(
        page().contains(&format!("``{detail}``")),
        "{PAGE} quotes the detail {detail:?}"
    );
    assert!(
        dead_letter(&letters, &default_topic, "identity_mismatch").is_some(),
        "SNMP rows under the poller's name: identity_mismatch\n{letters}"
    );
    assert_eq!(
        lab.school("NX-217").await["state"],
        "unknown",
        "a router with only skewed readings stays grey"
    );

    // Two minutes behind: inside the window, stored at the device's time.
    publish(
        &lab,
        router,
        &uptime,
        &format!("{:.3}:12345", now_s() - 120.0),
    );
    wait_until("NX-217 up", Duration::from_secs(20), || async {
        let s = lab.school("NX-217").await;
        if s["state"] == "up" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    })
    .await;
    let metrics = lab.collector.metrics().await;
    let lag = |le: &str| {
        sum_metric(
            &metrics,
            "schoolnet_collector_lag_seconds_bucket",
            &[&format!("le=\"{le}\"")],
        )
    };
    assert_eq!(
        (lag("60"), lag("+Inf")),
        (0.0, 1.0),
        "the one stored reading, 120 s late"
    );

    // The wrong topics never reached the collector: five messages counted
    // (four rejected, one ok), no other dead letter.
    assert_eq!(
        sum_metric(&metrics, "schoolnet_collector_messages_total", &[]),
        5.0,
        "{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("schoolnet_collector_messages_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(lab.collector.dead_letters().await["total"], 4);
}
