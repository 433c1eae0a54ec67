//! The page's broker setup on a real mosquitto: the users it creates with
//! `mosquitto_passwd`, the shipped deploy/mosquitto/acl (of which the page
//! quotes a part) plus the page's poller lines. Each user publishes on its
//! own topics and is refused on another device's, and the refusals look
//! as the page's "ACL refusals" says: the publisher sees nothing, the
//! broker logs `Denied PUBLISH` at debug level; a wrong password is refused
//! at CONNECT, for `mosquitto_pub` and for the real collectd.

use super::{block, page, walkthrough::openwrt_config, PAGE};
use crate::support::ROOT;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use testkit::{tool, wait_until, ChildProcess, Collectd, Mosquitto};

/// The collector's broker user (deploy/mosquitto/README.md).
pub(super) const COLLECTOR_USER: &str = "schoolnet-collector";

/// The password the tests give `user`.
pub(super) fn password(user: &str) -> String {
    format!("pw-{user}")
}

/// The users the page creates (`mosquitto_passwd /etc/mosquitto/passwd USER`).
pub(super) fn guide_users() -> Vec<String> {
    let mut users: Vec<String> = page()
        .lines()
        .filter_map(|l| {
            l.trim()
                .split("mosquitto_passwd /etc/mosquitto/passwd ")
                .nth(1)
        })
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect();
    users.dedup();
    assert!(users.len() >= 3, "{PAGE}: broker users {users:?}");
    users
}

/// A broker with the shipped ACL plus the page's poller lines and a
/// password file of the collector's user and the page's users; `debug`
/// adds `log_type debug`. The temp dir holds the files.
pub(super) async fn guide_broker(debug: bool) -> (Mosquitto, tempfile::TempDir) {
    let passwd_tool = tool("/usr/bin/mosquitto_passwd", "mosquitto");
    tool("/usr/bin/mosquitto_pub", "mosquitto-clients");
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(Path::new(ROOT).join("deploy/mosquitto/acl")).unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, format!("{shipped}\n{}\n", block("acl-poller"))).unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    let mut users = vec![COLLECTOR_USER.to_string()];
    users.extend(guide_users());
    for user in &users {
        let out = std::process::Command::new(&passwd_tool)
            .arg("-b")
            .arg(&passwd)
            .arg(user)
            .arg(password(user))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut builder = Mosquitto::builder().password_file(&passwd).acl_file(&acl);
    if debug {
        builder = builder.config_line("log_type debug");
    }
    (builder.start().await, dir)
}

/// `mosquitto_pub` as `user` (client id = user) at QoS 1.
pub(super) fn publish_as(
    broker: &Mosquitto,
    user: &str,
    pw: &str,
    topic: &str,
    payload: &str,
) -> Output {
    std::process::Command::new("/usr/bin/mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
        .args(["-i", user, "-u", user, "-P", pw, "-t", topic, "-m", payload])
        .output()
        .unwrap()
}

fn broker_log(broker: &Mosquitto) -> String {
    std::fs::read_to_string(broker.log_path()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn guide_users_write_their_own_topics_and_are_refused_on_others() {
    // The page's ACL excerpt is the shipped file's, line for line.
    let shipped = std::fs::read_to_string(Path::new(ROOT).join("deploy/mosquitto/acl")).unwrap();
    let shipped_lines: Vec<&str> = shipped.lines().map(str::trim).collect();
    for line in block("acl-shipped")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        assert!(
            shipped_lines.contains(&line.trim()),
            "{PAGE} quotes `{line}`, which deploy/mosquitto/acl does not have"
        );
    }

    let (broker, _files) = guide_broker(true).await;
    let sub = ChildProcess::builder("/usr/bin/mosquitto_sub")
        .name("collector-sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-u", COLLECTOR_USER, "-P", &password(COLLECTOR_USER)])
        .args(["-q", "1", "-v", "-t", "#"])
        .spawn();
    let seen = |topic: &str, payload: &str| sub.stdout().contains(&format!("{topic} {payload}"));

    // (user, a topic of its own, another device's topic): the poller's own
    // topic comes from the page's `topic write` line.
    let poller = block("acl-poller");
    let poller_user = poller
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("user ")
        .trim()
        .to_string();
    let poller_topic = poller
        .lines()
        .find_map(|l| l.trim().strip_prefix("topic write "))
        .unwrap()
        .replace('#', "interface");
    let cases = [
        (
            "rtr-nx-217".to_string(),
            "collectd/rtr-nx-217/uptime/uptime".to_string(),
            "collectd/rtr-nx-218/uptime/uptime",
        ),
        (
            "rtr-nx-218".to_string(),
            "mikrotik/rtr-nx-218/system".to_string(),
            "mikrotik/rtr-nx-217/system",
        ),
        (poller_user, poller_topic, "telegraf/rtr-nx-001/interface"),
    ];
    let users = guide_users();
    for (user, own, foreign) in &cases {
        assert!(users.contains(user), "{PAGE} creates no broker user {user}");
        let pw = password(user);
        // Until the subscription is in place the own message may be missed.
        let mut n = 0;
        wait_until(&format!("{user} on {own}"), Duration::from_secs(10), || {
            n += 1;
            let out = publish_as(&broker, user, &pw, own, &format!("own-{n}"));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ok = seen(own, &format!("own-{n}"));
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("not delivered yet".to_string())
                }
            }
        })
        .await;
        // Refused: mosquitto_pub gets its PUBACK and succeeds.
        let out = publish_as(&broker, user, &pw, foreign, "forbidden");
        assert!(
            out.status.success(),
            "a refused publish looks fine to the device"
        );
        let out = publish_as(&broker, user, &pw, own, "after");
        assert!(out.status.success());
        wait_until(
            "the publish after the refused one",
            Duration::from_secs(10),
            || {
                let ok = seen(own, "after");
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err("not yet".to_string())
                    }
                }
            },
        )
        .await;
        assert!(
            !sub.stdout().contains(&format!("{foreign} forbidden")),
            "{user} wrote {foreign}"
        );
        let denied = format!("Denied PUBLISH from {user} (d0, q1, r0, m1, '{foreign}'");
        assert!(
            broker_log(&broker).contains(&denied),
            "broker log: no {denied:?}"
        );
    }

    // A wrong password: refused at CONNECT, as the page quotes it.
    let out = publish_as(
        &broker,
        "rtr-nx-217",
        "wrong",
        "collectd/rtr-nx-217/uptime/uptime",
        "1",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Connection error: Connection Refused: not authorised."),
        "mosquitto_pub says: {stderr}"
    );
    assert!(broker_log(&broker).contains("Client <unknown> disconnected, not authorised."));

    // The real collectd with the shipped config and a wrong password logs
    // what the page says it does.
    let collectd = Collectd::builder()
        .device_config(openwrt_config(&broker, "rtr-nx-217", "wrong"))
        .start()
        .await;
    // Which cause it names depends on timing; the page quotes both.
    let failed = "mqtt plugin: publish failed: Connection pending.";
    let causes = [
        "mqtt plugin: mosquitto_loop failed: The connection was refused.",
        "mosquitto_publish failed: The connection was lost.",
    ];
    for quoted in causes.iter().chain([&failed]) {
        assert!(
            page().contains(quoted),
            "{PAGE} quotes collectd's `{quoted}`"
        );
    }
    wait_until(
        "collectd's refusal in its log",
        Duration::from_secs(40),
        || {
            let log = std::fs::read_to_string(collectd.log_path()).unwrap_or_default();
            let refused = log.contains(failed) && causes.iter().any(|c| log.contains(c));
            async move {
                if refused {
                    Ok(())
                } else {
                    Err(log)
                }
            }
        },
    )
    .await;
}
