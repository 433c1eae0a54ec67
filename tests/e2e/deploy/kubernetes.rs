//! `deploy/kubernetes/`: no cluster and no schema validator here, so the
//! manifests are parsed into typed models of the Kubernetes API fields they
//! use, with unknown fields refused (a misspelt or misplaced key fails, as
//! `kubectl apply --validate=strict` would), then checked for what makes
//! them work together: selectors match labels, ports and probes match the
//! config's exporter, mounts name existing volumes, the config's secret
//! and spool paths are where the volumes are, the shard variables come
//! from the pod ordinal and the replica count, and the ConfigMap's config
//! passes `schoolnet check-config` with the pod's environment. The
//! Prometheus scrape job's relabeling runs in a real Prometheus (Debian's
//! is built without Kubernetes discovery, so that one block is replaced by
//! static targets carrying the pod role's meta labels).

// The models exist to be type-checked against the manifests (unknown
// fields refused); not every field is read afterwards.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::*;

const DIR: &str = "deploy/kubernetes";

type Labels = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    namespace: String,
    resources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
}

/// Any manifest: its kind first, the rest by kind.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: String,
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Namespace {
    api_version: String,
    kind: String,
    metadata: Meta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigMap {
    api_version: String,
    kind: String,
    metadata: Meta,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Service {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: ServiceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    publish_not_ready_addresses: Option<bool>,
    selector: Labels,
    ports: Vec<ServicePort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServicePort {
    name: String,
    port: u16,
    target_port: IntOrString,
    protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum IntOrString {
    Int(u16),
    Str(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatefulSet {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: StatefulSetSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatefulSetSpec {
    service_name: String,
    replicas: u32,
    pod_management_policy: Option<String>,
    update_strategy: Option<UpdateStrategy>,
    selector: LabelSelector,
    template: PodTemplate,
    volume_claim_templates: Vec<Claim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStrategy {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LabelSelector {
    match_labels: Labels,
}

/// A pod template's metadata: no name of its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateMeta {
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PodTemplate {
    metadata: TemplateMeta,
    spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodSpec {
    termination_grace_period_seconds: u64,
    automount_service_account_token: Option<bool>,
    enable_service_links: Option<bool>,
    security_context: PodSecurityContext,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodSecurityContext {
    run_as_non_root: bool,
    run_as_user: u32,
    run_as_group: u32,
    fs_group: u32,
    fs_group_change_policy: Option<String>,
    seccomp_profile: Option<UpdateStrategy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    image_pull_policy: Option<String>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
    ports: Vec<ContainerPort>,
    startup_probe: Option<Probe>,
    liveness_probe: Option<Probe>,
    readiness_probe: Option<Probe>,
    resources: Option<Resources>,
    security_context: ContainerSecurityContext,
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVar {
    name: String,
    value: Option<String>,
    value_from: Option<EnvVarSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVarSource {
    field_ref: Option<FieldRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FieldRef {
    field_path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerPort {
    name: String,
    container_port: u16,
    protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Probe {
    http_get: HttpGet,
    initial_delay_seconds: Option<u32>,
    period_seconds: Option<u32>,
    timeout_seconds: Option<u32>,
    failure_threshold: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    path: String,
    port: IntOrString,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resources {
    #[serde(default)]
    requests: Labels,
    #[serde(default)]
    limits: Labels,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerSecurityContext {
    allow_privilege_escalation: bool,
    read_only_root_filesystem: bool,
    capabilities: Capabilities,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capabilities {
    drop: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    read_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Volume {
    name: String,
    projected: Option<Projected>,
    secret: Option<SecretVolume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Projected {
    sources: Vec<Projection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Projection {
    config_map: Option<ObjectItems>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectItems {
    name: String,
    items: Vec<KeyToPath>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretVolume {
    secret_name: String,
    default_mode: Option<u32>,
    items: Vec<KeyToPath>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyToPath {
    key: String,
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    metadata: Meta,
    spec: ClaimSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClaimSpec {
    access_modes: Vec<String>,
    storage_class_name: Option<String>,
    resources: Resources,
}

/// Every manifest of the kustomization, typed.
struct Manifests {
    kustomization: Kustomization,
    namespaces: Vec<Namespace>,
    config_maps: BTreeMap<String, ConfigMap>,
    services: Vec<Service>,
    stateful_sets: Vec<StatefulSet>,
}

fn parse<T: DeserializeOwned>(doc: &serde_json::Value, file: &str) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
        panic!(
            "{DIR}/{file}: not a valid {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

impl Manifests {
    fn load() -> Manifests {
        let kustomization: Kustomization = parse(
            &yaml(&read(&format!("{DIR}/kustomization.yaml")), "kustomization"),
            "kustomization.yaml",
        );
        assert_eq!(kustomization.api_version, "kustomize.config.k8s.io/v1beta1");
        assert_eq!(kustomization.kind, "Kustomization");
        let mut m = Manifests {
            kustomization,
            namespaces: Vec::new(),
            config_maps: BTreeMap::new(),
            services: Vec::new(),
            stateful_sets: Vec::new(),
        };
        for file in m.kustomization.resources.clone() {
            for doc in yaml_docs(&read(&format!("{DIR}/{file}")), &file) {
                let head: Head = parse(&doc, &file);
                match (head.api_version.as_str(), head.kind.as_str()) {
                    ("v1", "Namespace") => m.namespaces.push(parse(&doc, &file)),
                    ("v1", "ConfigMap") => {
                        let cm: ConfigMap = parse(&doc, &file);
                        m.config_maps.insert(cm.metadata.name.clone(), cm);
                    }
                    ("v1", "Service") => m.services.push(parse(&doc, &file)),
                    ("apps/v1", "StatefulSet") => m.stateful_sets.push(parse(&doc, &file)),
                    other => panic!("{file}: unexpected {other:?}"),
                }
            }
        }
        m
    }

    fn sts(&self) -> &StatefulSet {
        assert_eq!(self.stateful_sets.len(), 1);
        &self.stateful_sets[0]
    }

    fn container(&self) -> &Container {
        let c = &self.sts().spec.template.spec.containers;
        assert_eq!(c.len(), 1, "one container");
        &c[0]
    }

    /// The config in the ConfigMap mounted at the config path of `args`.
    fn config_text(&self) -> &str {
        let cm = self
            .config_maps
            .get("schoolnet-config")
            .expect("ConfigMap schoolnet-config");
        cm.data.get("schoolnet.toml").expect("schoolnet.toml")
    }

    fn config(&self) -> toml::Table {
        toml_value(self.config_text(), "ConfigMap schoolnet.toml")
    }

    fn env(&self, name: &str) -> &EnvVar {
        self.container()
            .env
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no env {name}"))
    }

    fn mount(&self, volume: &str) -> &VolumeMount {
        self.container()
            .volume_mounts
            .iter()
            .find(|m| m.name == volume)
            .unwrap_or_else(|| panic!("volume {volume} not mounted"))
    }

    fn volume(&self, name: &str) -> &Volume {
        self.sts()
            .spec
            .template
            .spec
            .volumes
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    }
}

fn is_subset(sub: &Labels, of: &Labels) -> bool {
    sub.iter().all(|(k, v)| of.get(k) == Some(v))
}

#[test]
fn kustomization_lists_every_manifest_and_each_is_well_formed() {
    let files: BTreeSet<String> = std::fs::read_dir(repo().join(DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    let listed: BTreeSet<String> = Manifests::load()
        .kustomization
        .resources
        .into_iter()
        .collect();
    assert_eq!(listed, files, "kustomization resources = every manifest");
    let m = Manifests::load();
    assert_eq!(m.namespaces.len(), 1);
    assert_eq!(m.namespaces[0].metadata.name, m.kustomization.namespace);
    assert_eq!(m.services.len(), 1);
    assert_eq!(
        m.config_maps.keys().collect::<Vec<_>>(),
        ["schoolnet-config", "schoolnet-inventory"]
    );
    for cm in m.config_maps.values() {
        assert_eq!(cm.metadata.labels["app.kubernetes.io/name"], "schoolnet");
    }
}

#[test]
fn selectors_match_the_pod_labels_and_the_service_governs_the_statefulset() {
    let m = Manifests::load();
    let sts = m.sts();
    let pod_labels = &sts.spec.template.metadata.labels;
    assert!(!sts.spec.selector.match_labels.is_empty());
    assert!(
        is_subset(&sts.spec.selector.match_labels, pod_labels),
        "StatefulSet selector {:?} does not select its pods {pod_labels:?}",
        sts.spec.selector.match_labels
    );
    let svc = &m.services[0];
    assert_eq!(sts.spec.service_name, svc.metadata.name, "serviceName");
    assert_eq!(svc.spec.cluster_ip.as_deref(), Some("None"), "headless");
    assert!(
        is_subset(&svc.spec.selector, pod_labels),
        "Service selector {:?} does not select the pods",
        svc.spec.selector
    );
    assert_eq!(svc.spec.publish_not_ready_addresses, Some(true));
    assert_eq!(sts.metadata.name, "schoolnet");
    assert_eq!(
        sts.spec.update_strategy.as_ref().map(|u| u.kind.as_str()),
        Some("RollingUpdate")
    );
    assert_eq!(sts.spec.pod_management_policy.as_deref(), Some("Parallel"));
}

#[test]
fn ports_probes_and_scrape_annotations_match_the_exporter() {
    let m = Manifests::load();
    let port = exporter_port(&m.config());
    let c = m.container();
    let named: BTreeMap<&str, u16> = c
        .ports
        .iter()
        .map(|p| {
            assert_eq!(p.protocol.as_deref().unwrap_or("TCP"), "TCP");
            (p.name.as_str(), p.container_port)
        })
        .collect();
    assert_eq!(
        named.get("http"),
        Some(&port),
        "container port http = exporter.listen"
    );
    assert_eq!(super::docker::image_ports(), [port], "the image EXPOSEs it");
    let resolve = |p: &IntOrString| match p {
        IntOrString::Int(n) => *n,
        IntOrString::Str(name) => *named
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no container port named {name}")),
    };
    let probe = |p: &Option<Probe>, what: &str| -> (String, u16) {
        let p = p.as_ref().unwrap_or_else(|| panic!("no {what}"));
        (p.http_get.path.clone(), resolve(&p.http_get.port))
    };
    assert_eq!(
        probe(&c.liveness_probe, "livenessProbe"),
        ("/healthz".into(), port)
    );
    assert_eq!(
        probe(&c.startup_probe, "startupProbe"),
        ("/healthz".into(), port)
    );
    assert_eq!(
        probe(&c.readiness_probe, "readinessProbe"),
        ("/readyz".into(), port)
    );
    let startup = c.startup_probe.as_ref().unwrap();
    let window = startup.period_seconds.unwrap_or(10) * startup.failure_threshold.unwrap_or(3);
    assert!(
        window >= 60,
        "startupProbe allows only {window}s to open the spool"
    );
    for p in [&c.liveness_probe, &c.readiness_probe] {
        let p = p.as_ref().unwrap();
        assert!(p.initial_delay_seconds.unwrap_or(0) <= 10);
        assert!(p.timeout_seconds.unwrap_or(1) >= 2);
    }

    let svc = &m.services[0];
    assert_eq!(svc.spec.ports.len(), 1);
    assert_eq!(svc.spec.ports[0].name, "http");
    assert_eq!(svc.spec.ports[0].port, port);
    assert_eq!(resolve(&svc.spec.ports[0].target_port), port);
    assert_eq!(svc.spec.ports[0].protocol.as_deref(), Some("TCP"));

    let ann = &m.sts().spec.template.metadata.annotations;
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], port.to_string());
    assert_eq!(ann["prometheus.io/path"], "/metrics");
}

#[test]
fn mounts_name_existing_volumes_and_the_config_paths_are_on_them() {
    let m = Manifests::load();
    let sts = m.sts();
    let c = m.container();
    let config = m.config();
    let volumes: BTreeSet<&str> = sts
        .spec
        .template
        .spec
        .volumes
        .iter()
        .map(|v| v.name.as_str())
        .chain(
            sts.spec
                .volume_claim_templates
                .iter()
                .map(|t| t.metadata.name.as_str()),
        )
        .collect();
    for mount in &c.volume_mounts {
        assert!(
            volumes.contains(mount.name.as_str()),
            "mount {} names no volume",
            mount.name
        );
    }

    // The config: `--config` is schoolnet.toml in the projected volume,
    // whose inventory items sit where the config's relative paths point.
    assert_cli_accepts(&c.args, "container args");
    assert!(c.command.is_empty(), "the image's ENTRYPOINT runs");
    let config_arg = c
        .args
        .iter()
        .position(|a| a == "--config")
        .map(|i| PathBuf::from(&c.args[i + 1]))
        .expect("--config");
    let config_mount = m.mount("config");
    assert_eq!(config_mount.read_only, Some(true));
    let projected = m
        .volume("config")
        .projected
        .as_ref()
        .expect("projected config volume");
    let mut files = BTreeMap::new();
    for source in &projected.sources {
        let cm = source.config_map.as_ref().expect("configMap source");
        let data = &m
            .config_maps
            .get(&cm.name)
            .unwrap_or_else(|| panic!("no ConfigMap {}", cm.name))
            .data;
        for item in &cm.items {
            assert!(
                data.contains_key(&item.key),
                "{} has no key {}",
                cm.name,
                item.key
            );
            files.insert(
                Path::new(&config_mount.mount_path).join(&item.path),
                (cm.name.clone(), item.key.clone()),
            );
        }
    }
    assert!(
        files.contains_key(&config_arg),
        "{config_arg:?} is not in the config volume"
    );
    for key in ["schools", "devices"] {
        let rel = config["inventory"][key].as_str().unwrap();
        let path = config_arg.parent().unwrap().join(rel);
        assert!(
            files.contains_key(&path),
            "inventory.{key} {path:?} is not mounted"
        );
    }

    // Secrets: files of the Secret's volume, where the config reads them.
    let secret_mount = m.mount("secrets");
    assert_eq!(secret_mount.read_only, Some(true));
    let secret = m.volume("secrets").secret.as_ref().expect("secret volume");
    assert_eq!(secret.secret_name, "schoolnet-secrets");
    assert_eq!(
        secret.default_mode,
        Some(0o440),
        "0440: owner and fsGroup read"
    );
    let secret_files: BTreeSet<PathBuf> = secret
        .items
        .iter()
        .map(|i| Path::new(&secret_mount.mount_path).join(&i.path))
        .collect();
    for (section, key) in [("mqtt", "password_file"), ("influx", "token_file")] {
        let path = PathBuf::from(config[section][key].as_str().unwrap());
        assert!(
            secret_files.contains(&path),
            "{section}.{key} {path:?} is not a file of the Secret volume {secret_files:?}"
        );
    }
    assert!(
        !c.env
            .iter()
            .any(|e| e.name.contains("PASSWORD") || e.name.contains("TOKEN")),
        "secrets as files, not environment"
    );

    // Spool: one claim per replica, mounted where spool.dir is, big enough.
    let spool = spool_dir(&config, "ConfigMap schoolnet.toml");
    let claims = &sts.spec.volume_claim_templates;
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    let mount = m.mount(&claim.metadata.name);
    assert!(
        spool.starts_with(&mount.mount_path),
        "spool {spool:?} is not on the claim mounted at {}",
        mount.mount_path
    );
    assert!(super::docker::image_volumes().contains(&PathBuf::from(&mount.mount_path)));
    assert_eq!(claim.spec.access_modes, ["ReadWriteOnce"]);
    assert!(
        claim.spec.storage_class_name.is_none(),
        "the cluster's default class"
    );
    let max_bytes = config
        .get("spool")
        .and_then(|s| s.get("max_bytes"))
        .and_then(|b| b.as_integer())
        .map(|b| b as u64)
        .unwrap_or_else(|| collector::spool::SpoolConfig::default().max_bytes);
    let storage = quantity_bytes(&claim.spec.resources.requests["storage"]);
    assert!(
        storage > max_bytes,
        "claim {storage} B cannot hold spool.max_bytes {max_bytes} B"
    );
}

#[test]
fn pod_runs_non_root_read_only_and_has_time_to_drain() {
    let m = Manifests::load();
    let pod = &m.sts().spec.template.spec;
    let sc = &pod.security_context;
    assert!(sc.run_as_non_root);
    assert_eq!(
        sc.run_as_user,
        super::docker::image_uid(),
        "the image's USER"
    );
    assert_eq!(sc.run_as_group, sc.run_as_user);
    assert_eq!(
        sc.fs_group, sc.run_as_user,
        "fsGroup: the spool and secrets are readable"
    );
    assert_eq!(sc.fs_group_change_policy.as_deref(), Some("OnRootMismatch"));
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.kind.as_str()),
        Some("RuntimeDefault")
    );
    let c = m.container();
    assert!(!c.security_context.allow_privilege_escalation);
    assert!(c.security_context.read_only_root_filesystem);
    assert_eq!(c.security_context.capabilities.drop, ["ALL"]);
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.enable_service_links, Some(false));
    assert!(
        Duration::from_secs(pod.termination_grace_period_seconds) >= stop_budget(),
        "terminationGracePeriodSeconds {} < the drain budget {:?}",
        pod.termination_grace_period_seconds,
        stop_budget()
    );
    let resources = c.resources.as_ref().expect("resources");
    assert!(resources.requests.contains_key("cpu") && resources.requests.contains_key("memory"));
    assert!(resources.limits.contains_key("memory"));
    assert!(
        !c.image.ends_with(":latest") && c.image.contains(':'),
        "pinned image"
    );
    assert_eq!(c.name, "schoolnet");
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        m.namespaces[0].metadata.labels["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn shard_index_is_the_pod_ordinal_and_the_count_is_the_replica_count() {
    let m = Manifests::load();
    let index = m.env("SCHOOLNET_SHARD__INDEX");
    assert_eq!(index.value, None);
    assert_eq!(
        index
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("metadata.labels['apps.kubernetes.io/pod-index']"),
        "the StatefulSet pod-index label (Kubernetes >= 1.28)"
    );
    let count = m.env("SCHOOLNET_SHARD__COUNT");
    assert_eq!(
        count.value.as_deref(),
        Some(m.sts().spec.replicas.to_string().as_str()),
        "SCHOOLNET_SHARD__COUNT must equal spec.replicas"
    );
    // One broker session per pod: client_id = the (stable) pod name,
    // defined before it is referenced.
    let names: Vec<&str> = m.container().env.iter().map(|e| e.name.as_str()).collect();
    let pod_name = names
        .iter()
        .position(|n| *n == "POD_NAME")
        .expect("POD_NAME");
    let client = names
        .iter()
        .position(|n| *n == "SCHOOLNET_MQTT__CLIENT_ID")
        .expect("SCHOOLNET_MQTT__CLIENT_ID");
    assert!(
        pod_name < client,
        "$(POD_NAME) is expanded only after its definition"
    );
    assert_eq!(
        m.env("POD_NAME")
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("metadata.name")
    );
    assert_eq!(
        m.env("SCHOOLNET_MQTT__CLIENT_ID").value.as_deref(),
        Some("$(POD_NAME)")
    );
}

/// The container's environment for pod `schoolnet-<ordinal>`, with
/// `$(VAR)` references expanded as the kubelet does.
fn pod_env(m: &Manifests, ordinal: u32) -> BTreeMap<String, String> {
    let pod = format!("{}-{ordinal}", m.sts().metadata.name);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for e in &m.container().env {
        let value = match (&e.value, &e.value_from) {
            (Some(v), None) => {
                let mut v = v.clone();
                for (k, val) in &env {
                    v = v.replace(&format!("$({k})"), val);
                }
                v
            }
            (None, Some(from)) => {
                match from
                    .field_ref
                    .as_ref()
                    .expect("fieldRef")
                    .field_path
                    .as_str()
                {
                    "metadata.name" => pod.clone(),
                    "metadata.labels['apps.kubernetes.io/pod-index']" => ordinal.to_string(),
                    other => panic!("fieldRef {other} not modelled"),
                }
            }
            _ => panic!("env {}: value or valueFrom", e.name),
        };
        env.insert(e.name.clone(), value);
    }
    env
}

#[test]
fn configmap_config_passes_check_config_with_the_pods_environment() {
    let m = Manifests::load();
    // The projected volume as the pod sees it.
    let root = tempfile::tempdir().unwrap();
    let mount = Path::new(&m.mount("config").mount_path).to_path_buf();
    let projected = m.volume("config").projected.as_ref().unwrap();
    for source in &projected.sources {
        let cm = source.config_map.as_ref().unwrap();
        for item in &cm.items {
            let to = inside(root.path(), &mount.join(&item.path));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(&to, &m.config_maps[&cm.name].data[&item.key]).unwrap();
        }
    }
    let c = m.container();
    let config_arg = c
        .args
        .iter()
        .position(|a| a == "--config")
        .map(|i| PathBuf::from(&c.args[i + 1]))
        .unwrap();
    let env = pod_env(&m, 0);
    assert_eq!(env["SCHOOLNET_SHARD__INDEX"], "0");
    let summary = check_config(&inside(root.path(), &config_arg), &env);
    assert!(summary.contains("216 schools"), "{summary}");
    assert!(
        summary.contains("as `schoolnet-0`"),
        "mqtt.client_id is the pod name:\n{summary}"
    );
    assert!(!summary.contains("NOT be stored"), "{summary}");
    // Scaled to three replicas (count changed with them), the second pod
    // owns its share and has its own session.
    let mut env = pod_env(&m, 1);
    env.insert("SCHOOLNET_SHARD__COUNT".into(), "3".into());
    let summary = check_config(&inside(root.path(), &config_arg), &env);
    assert!(summary.contains("as `schoolnet-1-1`"), "{summary}");
    assert!(summary.contains("shard: instance 1 of 3"), "{summary}");
    // A pod whose index is not below the count is refused.
    let env = pod_env(&m, 1);
    let out = check_config_output(&inside(root.path(), &config_arg), &env);
    assert!(out.contains("shard.index"), "{out}");
}

#[test]
fn inventory_configmap_is_the_sample_inventory() {
    let m = Manifests::load();
    let cm = &m.config_maps["schoolnet-inventory"];
    for file in ["schools.csv", "devices.csv"] {
        assert!(
            cm.data[file] == read(&format!("deploy/inventory/{file}")),
            "{DIR}/inventory-configmap.yaml `{file}` differs from deploy/inventory/{file}: \
             regenerate it (each line of the CSV indented by 4 spaces under `{file}: |`)"
        );
    }
}

/// The job of prometheus-scrape.yml with its Kubernetes discovery replaced
/// by static targets that carry the `__meta_kubernetes_pod_*` labels the
/// pod role would give `pods` (Debian's Prometheus is built without
/// Kubernetes discovery, so it cannot load the job as it is).
fn scrape_job_with_static_pods(pods: &[serde_json::Value]) -> serde_json::Value {
    let snippet = read(&format!("{DIR}/prometheus-scrape.yml"));
    let jobs = yaml(&snippet, "prometheus-scrape.yml");
    let mut job = jobs
        .as_array()
        .filter(|j| j.len() == 1)
        .expect("one scrape job")[0]
        .clone();
    let job_map = job.as_object_mut().unwrap();
    job_map
        .remove("kubernetes_sd_configs")
        .expect("kubernetes_sd_configs");
    job_map.insert(
        "static_configs".into(),
        serde_json::Value::Array(pods.to_vec()),
    );
    job
}

/// A pod as the Kubernetes pod role would discover it: address = pod IP
/// and a container port, its labels and annotations as meta labels.
fn discovered_pod(
    address: &str,
    name: &str,
    labels: &Labels,
    annotations: &Labels,
) -> serde_json::Value {
    let sanitize = |k: &str| -> String {
        k.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let mut meta = serde_json::Map::new();
    meta.insert("__meta_kubernetes_pod_name".into(), name.into());
    meta.insert("__meta_kubernetes_namespace".into(), "schoolnet".into());
    for (k, v) in labels {
        meta.insert(
            format!("__meta_kubernetes_pod_label_{}", sanitize(k)),
            v.as_str().into(),
        );
    }
    for (k, v) in annotations {
        meta.insert(
            format!("__meta_kubernetes_pod_annotation_{}", sanitize(k)),
            v.as_str().into(),
        );
    }
    serde_json::json!({"targets": [address], "labels": meta})
}

#[tokio::test]
async fn prometheus_scrape_job_keeps_the_collector_pods_as_job_schoolnet() {
    let m = Manifests::load();
    let snippet = read(&format!("{DIR}/prometheus-scrape.yml"));
    let jobs = yaml(&snippet, "prometheus-scrape.yml");
    let job = &jobs[0];
    assert_eq!(
        job["job_name"], "schoolnet",
        "the alerts select up{{job=\"schoolnet\"}}"
    );
    let sd = &job["kubernetes_sd_configs"][0];
    assert_eq!(sd["role"], "pod", "one target per pod (per shard)");
    assert_eq!(
        sd["namespaces"]["names"][0],
        m.kustomization.namespace.as_str()
    );

    // The relabeling, run by a real Prometheus on pods as the pod role
    // would discover them: our pod (annotated; discovered on some other
    // container port), the same pod without the scrape annotation, and
    // another app's annotated pod.
    let template = &m.sts().spec.template.metadata;
    let port = exporter_port(&m.config());
    let mut unannotated = template.annotations.clone();
    unannotated.remove("prometheus.io/scrape");
    let mut other_app = template.labels.clone();
    other_app.insert("app.kubernetes.io/name".into(), "other".into());
    // And one whose annotations name another port and path: they win.
    let mut elsewhere = template.annotations.clone();
    elsewhere.insert("prometheus.io/port".into(), "9999".into());
    elsewhere.insert("prometheus.io/path".into(), "/other".into());
    let pods = [
        discovered_pod(
            "127.0.0.1:1",
            "schoolnet-0",
            &template.labels,
            &template.annotations,
        ),
        discovered_pod("127.0.0.2:1", "schoolnet-1", &template.labels, &unannotated),
        discovered_pod("127.0.0.3:1", "other-0", &other_app, &template.annotations),
        discovered_pod("127.0.0.4:1", "schoolnet-2", &template.labels, &elsewhere),
    ];
    let prometheus = testkit::Prometheus::builder()
        .scrape_config(scrape_job_with_static_pods(&pods))
        .start()
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let targets = loop {
        let t = prometheus.targets().await;
        let dropped = t["droppedTargets"].as_array().map_or(0, Vec::len);
        let active = t["activeTargets"].as_array().map_or(0, Vec::len);
        if active + dropped == pods.len() {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "targets never appeared: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut active: Vec<(String, String, String)> = targets["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&t["labels"]["instance"]),
                s(&t["labels"]["job"]),
                s(&t["scrapeUrl"]),
            )
        })
        .collect();
    active.sort();
    let job = "schoolnet".to_string();
    assert_eq!(
        active,
        [
            // instance = pod name; address and path from the annotations.
            (
                "schoolnet-0".into(),
                job.clone(),
                format!("http://127.0.0.1:{port}/metrics")
            ),
            (
                "schoolnet-2".into(),
                job,
                "http://127.0.0.4:9999/other".into()
            ),
        ],
        "the annotated collector pods: {targets:#}"
    );
    assert_eq!(targets["droppedTargets"].as_array().unwrap().len(), 2);
}
