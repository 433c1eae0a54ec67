//! `deploy/compose/`: the compose file as docker-compose resolves it
//! (`docker-compose config`, Debian package `docker-compose`; no container
//! engine is needed for that), and each service's configs checked the way
//! the container would read them: its bind mounts copied into a temp root
//! at their container paths, then `schoolnet check-config`, `promtool check
//! config`, `amtool check-config`, a real mosquitto, the InfluxDB init
//! script against a stub `influx` CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::*;

pub const COMPOSE_FILE: &str = "deploy/compose/docker-compose.yml";
pub const SERVICES: [&str; 6] = [
    "mosquitto",
    "influxdb",
    "schoolnet",
    "prometheus",
    "alertmanager",
    "grafana",
];

fn docker_compose() -> PathBuf {
    tool("/usr/bin/docker-compose", "docker-compose")
}

/// `(host path, container path)` of each bind mount.
pub type Binds = Vec<(PathBuf, PathBuf)>;
/// `(volume name, container path)` of each named volume.
pub type NamedVolumes = Vec<(String, PathBuf)>;

/// What `deploy/compose/init-secrets.sh DIR` made: `.env` and
/// `secrets/mosquitto-passwd` in a temp dir.
pub struct Secrets {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Secrets {
    pub fn make() -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            Command::new("bash")
                .arg(repo().join("deploy/compose/init-secrets.sh"))
                .arg(dir.path())
                // The local mosquitto_passwd (test deps), never docker.
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        );
        let text = std::fs::read_to_string(dir.path().join(".env")).unwrap();
        let env = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("KEY=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        Secrets { dir, env }
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env")
    }
}

/// `docker-compose -f deploy/compose/docker-compose.yml --env-file ENV
/// config` with none of the secrets in the process environment.
fn compose_config(env_file: &Path) -> std::process::Output {
    let mut cmd = Command::new(docker_compose());
    cmd.current_dir(repo())
        .args(["-f", COMPOSE_FILE, "--env-file"])
        .arg(env_file)
        .arg("config");
    for var in [
        "SCHOOLNET_MQTT_PASSWORD",
        "SCHOOLNET_INFLUX_TOKEN",
        "INFLUX_ADMIN_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    run(&mut cmd)
}

/// The resolved compose model (relative paths made absolute, `${…}`
/// substituted from the secrets of a fresh `init-secrets.sh`).
pub struct Resolved {
    pub secrets: Secrets,
    pub model: Value,
}

impl Resolved {
    pub fn load() -> Resolved {
        let secrets = Secrets::make();
        let out = compose_config(&secrets.env_file());
        assert!(
            out.status.success(),
            "docker-compose config failed:\n{}",
            stderr(&out)
        );
        let model = yaml(&stdout(&out), "docker-compose config output");
        Resolved { secrets, model }
    }

    pub fn service(&self, name: &str) -> &Value {
        self.model["services"]
            .get(name)
            .unwrap_or_else(|| panic!("compose has no service `{name}`"))
    }

    /// `(host, container)` of the service's bind mounts and the container
    /// paths of its named volumes. Host paths under deploy/compose/secrets/
    /// (made by init-secrets.sh, never committed) are taken from the temp
    /// secrets dir.
    pub fn mounts(&self, name: &str) -> (Binds, NamedVolumes) {
        let mut binds = Vec::new();
        let mut volumes = Vec::new();
        let secrets_dir = repo().join("deploy/compose/secrets");
        for v in self.service(name)["volumes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no volumes"))
        {
            let spec = v.as_str().expect("short volume syntax in config output");
            let parts: Vec<&str> = spec.split(':').collect();
            assert!(parts.len() >= 2, "{name}: volume `{spec}`");
            let (src, dst) = (parts[0], PathBuf::from(parts[1]));
            if src.starts_with('/') {
                let host = PathBuf::from(src);
                let host = match host.strip_prefix(&secrets_dir) {
                    Ok(rel) => self.secrets.dir.path().join("secrets").join(rel),
                    Err(_) => host,
                };
                binds.push((host, dst));
            } else {
                volumes.push((src.to_string(), dst));
            }
        }
        (binds, volumes)
    }

    /// The service's files as its container sees them, under a temp root.
    pub fn container_root(&self, name: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let (binds, volumes) = self.mounts(name);
        let volume_paths: Vec<PathBuf> = volumes.into_iter().map(|(_, p)| p).collect();
        materialize(root.path(), &binds, &volume_paths);
        root
    }

    pub fn environment(&self, name: &str) -> BTreeMap<String, String> {
        self.service(name)["environment"]
            .as_object()
            .map(|env| {
                env.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn command(&self, name: &str) -> Vec<String> {
        self.service(name)["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no command list"))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    /// Container ports published by the service.
    pub fn published_container_ports(&self, name: &str) -> BTreeSet<u16> {
        self.service(name)["ports"]
            .as_array()
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        let spec = p.as_str().expect("short port syntax");
                        let container = spec.rsplit(':').next().unwrap();
                        container.trim_end_matches("/tcp").parse().unwrap()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Seconds of a compose duration like `45s` or `1m30s`.
fn compose_seconds(d: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().unwrap_or_else(|_| panic!("duration `{d}`"));
            num.clear();
            total += match c {
                's' => n,
                'm' => n * 60,
                'h' => n * 3600,
                _ => panic!("duration `{d}`: unit {c}"),
            };
        }
    }
    assert!(num.is_empty(), "duration `{d}` without unit");
    total
}

/// `url`'s host and port, e.g. `mqtt://mosquitto:1883` -> (mosquitto, 1883).
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").expect("scheme").1;
    let authority = rest.split('/').next().unwrap();
    let (host, port) = authority.rsplit_once(':').expect("explicit port");
    (host.to_string(), port.parse().unwrap())
}

fn schoolnet_toml() -> toml::Table {
    toml_value(
        &read("deploy/compose/schoolnet.toml"),
        "deploy/compose/schoolnet.toml",
    )
}

#[test]
fn compose_file_is_valid_and_lists_the_whole_stack() {
    let r = Resolved::load();
    let services: BTreeSet<&str> = r.model["services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        services,
        SERVICES.into_iter().collect(),
        "the services of the stack"
    );
    for name in SERVICES {
        let s = r.service(name);
        assert!(
            s["image"].is_string(),
            "{name}: no image (pinned tag expected)"
        );
        let image = s["image"].as_str().unwrap();
        if name != "schoolnet" {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest",
                "{name}: image `{image}` should be pinned to a version"
            );
        }
        assert_eq!(s["restart"], "unless-stopped", "{name}: restart policy");
        // Web UIs and the broker are published on loopback only.
        for p in s["ports"].as_array().into_iter().flatten() {
            let p = p.as_str().unwrap();
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name}: port `{p}` is published on every interface"
            );
        }
    }
}

#[test]
fn compose_refuses_to_run_without_the_secrets() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let out = compose_config(empty.path());
    assert!(
        !out.status.success(),
        "docker-compose config succeeded without .env: some secret has a default"
    );
    assert!(
        stderr(&out).contains("init-secrets.sh"),
        "the error should say how to make the secrets:\n{}",
        stderr(&out)
    );
}

#[test]
fn init_secrets_makes_every_secret_the_compose_file_needs_and_keeps_existing_ones() {
    let s = Secrets::make();
    let compose: String = read(COMPOSE_FILE)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    // Every ${VAR:?…} the compose file needs is in .env, non-empty.
    let mut needed = BTreeSet::new();
    for part in compose.split("${").skip(1) {
        let var = part.split([':', '}']).next().unwrap();
        needed.insert(var.to_string());
    }
    assert!(!needed.is_empty());
    for var in &needed {
        let v = s.env.get(var).unwrap_or_else(|| panic!(".env lacks {var}"));
        assert!(v.len() >= 32, "{var} is too short: {v:?}");
    }
    // Distinct random values.
    let values: BTreeSet<&String> = s.env.values().collect();
    assert_eq!(values.len(), s.env.len(), "secrets repeat: {:?}", s.env);
    // The broker's file holds a salted hash for the collector, not the password.
    let passwd = std::fs::read_to_string(s.dir.path().join("secrets/mosquitto-passwd")).unwrap();
    let (user, hash) = passwd.trim().split_once(':').unwrap();
    assert_eq!(user, "schoolnet-collector");
    assert!(hash.starts_with("$7$"), "not a mosquitto 2 hash: {hash}");
    assert!(!passwd.contains(&s.env["SCHOOLNET_MQTT_PASSWORD"]));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.env_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, ".env is readable by others: {mode:o}");

    // A second run keeps them.
    let again = run(Command::new("bash")
        .arg(repo().join("deploy/compose/init-secrets.sh"))
        .arg(s.dir.path()));
    assert!(!again.status.success(), "init-secrets.sh overwrote secrets");
    let text = std::fs::read_to_string(s.env_file()).unwrap();
    assert!(text.contains(&s.env["SCHOOLNET_INFLUX_TOKEN"]));

    // The image whose mosquitto_passwd it falls back to is the compose one.
    let script = read("deploy/compose/init-secrets.sh");
    let r = Resolved::load();
    let image = r.service("mosquitto")["image"].as_str().unwrap();
    assert!(
        script.contains(&format!("MOSQUITTO_IMAGE={image}\n")),
        "init-secrets.sh's MOSQUITTO_IMAGE differs from the compose image {image}"
    );
}

#[test]
fn every_mounted_host_file_is_in_the_repository() {
    let r = Resolved::load();
    let declared: BTreeSet<String> = r.model["volumes"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let secrets_dir = repo().join("deploy/compose/secrets");
    for name in SERVICES {
        for v in r.service(name)["volumes"].as_array().into_iter().flatten() {
            let spec = v.as_str().unwrap();
            let src = spec.split(':').next().unwrap();
            if !src.starts_with('/') {
                assert!(declared.contains(src), "{name}: undeclared volume {src}");
                continue;
            }
            let host = Path::new(src);
            let rel = host
                .strip_prefix(repo())
                .unwrap_or_else(|_| panic!("{name}: {src} is outside the repository"));
            if host.starts_with(&secrets_dir) {
                // Made by init-secrets.sh (gitignored).
                let made = r
                    .secrets
                    .dir
                    .path()
                    .join("secrets")
                    .join(host.strip_prefix(&secrets_dir).unwrap());
                assert!(made.exists(), "{name}: init-secrets.sh does not make {src}");
                continue;
            }
            assert!(
                host.exists(),
                "{name}: mounts {} which is not in the repository",
                rel.display()
            );
        }
    }
}

#[test]
fn schoolnet_service_builds_the_image_keeps_the_spool_and_passes_check_config() {
    let r = Resolved::load();
    let s = r.service("schoolnet");

    // Built from the repository's Dockerfile.
    let context = PathBuf::from(s["build"]["context"].as_str().unwrap());
    assert_eq!(context, repo(), "build context is the repository root");
    let dockerfile = s["build"]["dockerfile"].as_str().unwrap();
    assert!(context.join(dockerfile).is_file(), "{dockerfile} missing");
    assert!(s["image"].is_string(), "the built image gets a name");

    // The container's config passes check-config with the container's
    // environment (the secrets of .env, the shard variables).
    let root = r.container_root("schoolnet");
    let command = r.command("schoolnet");
    assert_cli_accepts(&command, "compose schoolnet command");
    let config_arg = command
        .iter()
        .position(|a| a == "--config")
        .map(|i| PathBuf::from(&command[i + 1]))
        .expect("command passes --config");
    let env = r.environment("schoolnet");
    let summary = check_config(&inside(root.path(), &config_arg), &env);
    assert!(
        summary.contains("216 schools"),
        "sample inventory mounted:\n{summary}"
    );
    assert!(
        !summary.contains("NOT be stored"),
        "history is stored:\n{summary}"
    );
    assert_eq!(env["SCHOOLNET_SHARD__INDEX"], "0");
    assert_eq!(env["SCHOOLNET_SHARD__COUNT"], "1");
    for secret in ["SCHOOLNET_MQTT_PASSWORD", "SCHOOLNET_INFLUX_TOKEN"] {
        assert_eq!(env[secret], r.secrets.env[secret], "{secret} from .env");
    }

    // The spool is on the named volume.
    let config = schoolnet_toml();
    let spool = spool_dir(&config, "compose schoolnet.toml");
    let (_, volumes) = r.mounts("schoolnet");
    assert!(
        volumes.iter().any(|(_, path)| spool.starts_with(path)),
        "spool {spool:?} is not on a named volume: {volumes:?}"
    );

    // Its exporter is published, and it has time to drain on stop.
    let port = exporter_port(&config);
    assert!(
        r.published_container_ports("schoolnet").contains(&port),
        "exporter port {port} not published"
    );
    let grace = compose_seconds(s["stop_grace_period"].as_str().expect("stop_grace_period"));
    assert!(
        Duration::from_secs(grace) >= stop_budget(),
        "stop_grace_period {grace}s < the drain budget {:?}",
        stop_budget()
    );
    assert_eq!(s["read_only"], true, "read-only root filesystem");
    assert_eq!(s["cap_drop"][0], "ALL");
}

#[test]
fn schoolnet_reaches_the_broker_and_influxdb_by_service_name() {
    let r = Resolved::load();
    let config = schoolnet_toml();

    let url = config["mqtt"]["url"].as_str().unwrap();
    let (host, port) = host_port(url);
    assert_eq!(host, "mosquitto", "mqtt.url {url}");
    let mosquitto_root = r.container_root("mosquitto");
    let conf_path = r.command("mosquitto").last().unwrap().clone();
    let conf =
        std::fs::read_to_string(inside(mosquitto_root.path(), Path::new(&conf_path))).unwrap();
    assert!(
        conf.lines().any(|l| l.trim() == format!("listener {port}")),
        "mosquitto.conf has no listener on all interfaces at {port}"
    );
    // The collector's user reads everything in the mounted ACL.
    let username = config["mqtt"]["username"].as_str().unwrap();
    let acl = std::fs::read_to_string(inside(
        mosquitto_root.path(),
        Path::new("/mosquitto/config/acl"),
    ))
    .unwrap();
    assert!(
        acl.contains(&format!("user {username}\ntopic read #")),
        "the ACL does not let `{username}` read every topic"
    );

    let influx = config["influx"]["url"].as_str().unwrap();
    let (host, port) = host_port(influx);
    assert_eq!(host, "influxdb", "influx.url {influx}");
    assert_eq!(port, 8086, "InfluxDB 2's port");
    assert_eq!(config["influx"]["api"].as_str(), Some("v2"));
    let env = r.environment("influxdb");
    assert_eq!(env["DOCKER_INFLUXDB_INIT_MODE"], "setup");
    assert_eq!(
        config["influx"]["org"].as_str(),
        Some(env["DOCKER_INFLUXDB_INIT_ORG"].as_str())
    );
    assert_eq!(
        config["influx"]["bucket"].as_str(),
        Some(env["DOCKER_INFLUXDB_INIT_BUCKET"].as_str())
    );
    // schoolnet's token is the one InfluxDB is set up with.
    assert_eq!(
        env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"],
        r.environment("schoolnet")["SCHOOLNET_INFLUX_TOKEN"]
    );
}

#[test]
fn mosquitto_refuses_anonymous_clients_and_admits_the_collector() {
    let r = Resolved::load();
    let root = r.container_root("mosquitto");
    let conf_path = r.command("mosquitto").last().unwrap().clone();
    let conf = std::fs::read_to_string(inside(root.path(), Path::new(&conf_path))).unwrap();
    // The container's paths, under the temp root; one loopback port.
    let port = testkit::free_port();
    let root_str = root.path().to_str().unwrap();
    let mut local = String::new();
    for line in conf.lines() {
        let line = line.replace(" /mosquitto/", &format!(" {root_str}/mosquitto/"));
        if line.trim() == "listener 1883" {
            local.push_str(&format!("listener {port} 127.0.0.1\n"));
        } else {
            local.push_str(&line);
            local.push('\n');
        }
    }
    // As root, mosquitto would switch to user `mosquitto`.
    local.push_str("user root\n");
    let local_conf = root.path().join("local.conf");
    std::fs::write(&local_conf, local).unwrap();

    let broker = tool(testkit::MOSQUITTO_BIN, "mosquitto");
    let mut child = testkit::ChildProcess::builder(&broker)
        .arg("-c")
        .arg(&local_conf)
        .name("mosquitto-compose")
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.is_running(),
            "mosquitto exited with the compose config:\n{}",
            child.log_tail()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "mosquitto did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let sub = tool("/usr/bin/mosquitto_sub", "mosquitto-clients");
    let subscribe = |auth: Option<(&str, &str)>| {
        let mut cmd = Command::new(&sub);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", "collectd/#", "-E", "-W", "5", "-i", "deploy-test"]);
        if let Some((u, p)) = auth {
            cmd.args(["-u", u, "-P", p]);
        }
        run(&mut cmd)
    };
    let anonymous = subscribe(None);
    assert!(
        !anonymous.status.success(),
        "anonymous client was admitted: {}",
        stdout(&anonymous)
    );
    let collector = subscribe(Some((
        "schoolnet-collector",
        &r.secrets.env["SCHOOLNET_MQTT_PASSWORD"],
    )));
    assert!(
        collector.status.success(),
        "the collector's user from init-secrets.sh was refused: {}\n{}",
        stderr(&collector),
        child.log_tail()
    );
    let wrong = subscribe(Some(("schoolnet-collector", "not-the-password")));
    assert!(!wrong.status.success(), "a wrong password was accepted");
    child.stop(Duration::from_secs(5));
}

#[test]
fn prometheus_loads_every_rule_file_and_scrapes_the_services() {
    let r = Resolved::load();
    let root = r.container_root("prometheus");
    let config_arg = r
        .command("prometheus")
        .iter()
        .find_map(|a| a.strip_prefix("--config.file=").map(PathBuf::from))
        .expect("--config.file");
    let config = inside(root.path(), &config_arg);
    let promtool = tool(testkit::PROMTOOL_BIN, "prometheus");
    let out = run_ok(
        Command::new(promtool)
            .args(["check", "config"])
            .arg(&config),
    );
    let rules = std::fs::read_dir(repo().join("deploy/prometheus/rules"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yml")
        })
        .count();
    assert!(rules >= 2);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{rules} rule files found")),
        "prometheus.yml should load all {rules} rule files:\n{text}"
    );

    let model = yaml(&std::fs::read_to_string(&config).unwrap(), "prometheus.yml");
    let targets = |job: &str| -> Vec<String> {
        model["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == job)
            .unwrap_or_else(|| panic!("no job {job}"))["static_configs"][0]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let exporter = exporter_port(&schoolnet_toml());
    assert_eq!(
        targets("schoolnet"),
        [format!("schoolnet:{exporter}")],
        "job schoolnet (the alerts' up{{job=\"schoolnet\"}})"
    );
    let am = model["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap();
    assert_eq!(am, "alertmanager:9093");
    assert!(r.published_container_ports("alertmanager").contains(&9093));
}

#[test]
fn alertmanager_config_is_valid() {
    let r = Resolved::load();
    let root = r.container_root("alertmanager");
    let config_arg = r
        .command("alertmanager")
        .iter()
        .find_map(|a| a.strip_prefix("--config.file=").map(PathBuf::from))
        .expect("--config.file");
    let amtool = tool(testkit::AMTOOL_BIN, "prometheus-alertmanager");
    let out = run_ok(
        Command::new(amtool)
            .arg("check-config")
            .arg(inside(root.path(), &config_arg)),
    );
    assert!(stdout(&out).contains("SUCCESS"), "{}", stdout(&out));
}

#[test]
fn grafana_provisions_the_dashboards_and_the_same_datasources_with_compose_urls() {
    let r = Resolved::load();
    let root = r.container_root("grafana");

    // The dashboard provider's path is where dashboards/ is mounted.
    let provider = yaml(
        &std::fs::read_to_string(inside(
            root.path(),
            Path::new("/etc/grafana/provisioning/dashboards/schoolnet.yml"),
        ))
        .expect("dashboard provider mounted"),
        "dashboard provider",
    );
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let mut dashboards: Vec<String> = std::fs::read_dir(inside(root.path(), Path::new(path)))
        .unwrap_or_else(|e| panic!("provider path {path} is not mounted: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    dashboards.sort();
    assert_eq!(dashboards.len(), 5, "dashboards at {path}: {dashboards:?}");

    // The data sources: those of deploy/grafana with compose URLs.
    let compose_ds = yaml(
        &std::fs::read_to_string(inside(
            root.path(),
            Path::new("/etc/grafana/provisioning/datasources/schoolnet.yml"),
        ))
        .expect("datasources mounted"),
        "compose datasources",
    );
    let repo_ds = yaml(
        &read("deploy/grafana/provisioning/datasources/schoolnet.yml"),
        "deploy/grafana datasources",
    );
    let by_uid = |v: &Value| -> BTreeMap<String, Value> {
        v["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["uid"].as_str().unwrap().to_string(), d.clone()))
            .collect()
    };
    let (compose_ds, repo_ds) = (by_uid(&compose_ds), by_uid(&repo_ds));
    assert_eq!(
        compose_ds.keys().collect::<Vec<_>>(),
        repo_ds.keys().collect::<Vec<_>>(),
        "the dashboards refer to these uids"
    );
    for (uid, want) in &repo_ds {
        let got = &compose_ds[uid];
        for key in ["name", "type", "access", "isDefault"] {
            assert_eq!(got[key], want[key], "{uid}: {key}");
        }
        for (k, v) in want["jsonData"].as_object().unwrap() {
            assert_eq!(&got["jsonData"][k], v, "{uid}: jsonData.{k}");
        }
    }
    let env = r.environment("grafana");
    let url = |uid: &str| compose_ds[uid]["url"].as_str().unwrap().to_string();
    assert_eq!(
        host_port(&url("schoolnet-prometheus")),
        ("prometheus".into(), 9090)
    );
    assert_eq!(
        host_port(&url("schoolnet-influxdb")),
        ("influxdb".into(), 8086)
    );
    // InfluxDB 2 over InfluxQL: the token as a header, from the environment.
    let influx = &compose_ds["schoolnet-influxdb"];
    assert_eq!(influx["jsonData"]["httpHeaderName1"], "Authorization");
    assert_eq!(
        influx["secureJsonData"]["httpHeaderValue1"],
        "Token ${SCHOOLNET_INFLUX_TOKEN}"
    );
    assert_eq!(
        env["SCHOOLNET_INFLUX_TOKEN"],
        r.secrets.env["SCHOOLNET_INFLUX_TOKEN"]
    );
    assert!(env.contains_key("GF_SECURITY_ADMIN_PASSWORD"));
}

/// A stand-in `influx` CLI: logs its arguments, prints an id for
/// `bucket list --name X`, and fails the subcommand named in
/// `$INFLUX_STUB_FAIL`.
const INFLUX_STUB: &str = r#"#!/bin/bash
echo "$*" >> "$INFLUX_STUB_LOG"
if [ -n "${INFLUX_STUB_FAIL:-}" ] && [[ "$*" == "$INFLUX_STUB_FAIL"* ]]; then exit 1; fi
if [ "$1 $2" = "bucket list" ]; then
  while [ $# -gt 0 ]; do [ "$1" = --name ] && name=$2; shift; done
  printf 'id-%s\t%s\t720h\n' "$name" "$name"
fi
"#;

fn run_influx_init(fail: Option<&str>) -> (std::process::Output, String) {
    let r = Resolved::load();
    let env = r.environment("influxdb");
    let (binds, _) = r.mounts("influxdb");
    let script = binds
        .iter()
        .find(|(_, c)| c.starts_with("/docker-entrypoint-initdb.d"))
        .map(|(h, _)| h.clone())
        .expect("an init script is mounted into /docker-entrypoint-initdb.d");
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("influx");
    std::fs::write(&stub, INFLUX_STUB).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("calls.log");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", dir.path().to_str().unwrap()),
        )
        .env("INFLUX_STUB_LOG", &log)
        .env("DOCKER_INFLUXDB_INIT_ORG", &env["DOCKER_INFLUXDB_INIT_ORG"])
        .env(
            "DOCKER_INFLUXDB_INIT_BUCKET",
            &env["DOCKER_INFLUXDB_INIT_BUCKET"],
        );
    if let Some(f) = fail {
        cmd.env("INFLUX_STUB_FAIL", f);
    }
    let out = run(&mut cmd);
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (out, calls)
}

#[test]
fn influxdb_init_creates_rollup_buckets_dbrp_mappings_and_the_task() {
    let r = Resolved::load();
    let (binds, _) = r.mounts("influxdb");
    let (script, target) = binds
        .iter()
        .find(|(_, c)| c.starts_with("/docker-entrypoint-initdb.d"))
        .expect("init script mounted");
    // The image's entrypoint runs only executable *.sh files there.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(script).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{} is not executable", script.display());
    assert!(target.to_string_lossy().ends_with(".sh"));
    // The task file it loads is mounted where it looks.
    let task = binds
        .iter()
        .find(|(h, _)| h.ends_with("deploy/influxdb/influxdb2-tasks.flux"))
        .map(|(_, c)| c.to_string_lossy().into_owned())
        .expect("influxdb2-tasks.flux mounted");
    assert!(
        read("deploy/compose/influxdb-init/schoolnet-setup.sh").contains(&format!("task={task}\n"))
    );

    let (out, calls) = run_influx_init(None);
    assert!(out.status.success(), "init script failed: {}", stderr(&out));
    let calls: Vec<&str> = calls.lines().collect();
    let has = |want: &str| calls.iter().any(|c| c.contains(want));
    assert!(
        has("bucket create --org schoolnet --name schoolnet_5m --retention 395d"),
        "{calls:#?}"
    );
    assert!(
        has("bucket create --org schoolnet --name schoolnet_1h --retention 1825d"),
        "{calls:#?}"
    );
    // The database Grafana and `schoolnet availability` read (dbName
    // `schoolnet`), default rp raw on the collector's bucket.
    assert!(has("v1 dbrp create --org schoolnet --db schoolnet --rp raw --bucket-id id-schoolnet --default"), "{calls:#?}");
    assert!(
        has("--db schoolnet --rp rollup_5m --bucket-id id-schoolnet_5m"),
        "{calls:#?}"
    );
    assert!(
        has("--db schoolnet --rp rollup_1h --bucket-id id-schoolnet_1h"),
        "{calls:#?}"
    );
    assert!(
        has(&format!("task create --org schoolnet --file {task}")),
        "{calls:#?}"
    );

    // An untested Flux task that fails to load must not keep InfluxDB down
    // (the image aborts the whole init on a failing script) ...
    let (out, _) = run_influx_init(Some("task create"));
    assert!(
        out.status.success(),
        "a failing task create failed the init"
    );
    assert!(stderr(&out).contains("WARNING"), "{}", stderr(&out));
    // ... but a missing DBRP mapping must: InfluxQL reads would fail later.
    let (out, _) = run_influx_init(Some("v1 dbrp create"));
    assert!(!out.status.success(), "a failing dbrp create was ignored");
}
