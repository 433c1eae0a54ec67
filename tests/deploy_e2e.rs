//! Deployment artifacts are valid and fit together (issue 7, "Deployment"):
//!
//! - `deploy/compose/`: `docker-compose config` (Debian `docker-compose`;
//!   no container engine needed), every service and mount, each service's
//!   config checked as its container sees it (`schoolnet check-config`,
//!   `promtool`, `amtool`, a real mosquitto with the generated password
//!   file, the InfluxDB init script against a stub `influx`);
//! - `Dockerfile` + `.dockerignore`: structure, the build context, the
//!   health check against a real `schoolnet run` (the image itself is not
//!   built: no engine here);
//! - `deploy/systemd/schoolnet.service`: `systemd-analyze verify` and
//!   `security --offline`, hardening keys, its command lines and
//!   environment run through the binary;
//! - `deploy/kubernetes/`: typed parse of every manifest (unknown fields
//!   refused), selectors, ports, probes, volumes, shard variables, and
//!   `check-config` on the ConfigMap with the pod's environment.
//!
//! Missing tools fail with the setup command (`sudo
//! scripts/setup-test-deps.sh`); nothing is skipped.

mod deploy;
