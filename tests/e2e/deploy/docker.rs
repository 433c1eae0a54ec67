//! The `Dockerfile` and `.dockerignore`. No container engine runs here, so
//! the image is not built; instead: the Dockerfile's structure (a locked
//! release build in a Rust stage, a slim runtime stage, a numeric non-root
//! user, the spool volume, the exporter port, the health check), the build
//! context (every file the build reads passes `.dockerignore`, and the
//! pruned context resolves as a locked workspace), and the health check
//! script run against a real `schoolnet run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// One instruction: keyword (upper case) and the rest of its line, with
/// continuation lines joined.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

pub fn instructions() -> Vec<Instruction> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        });
        current.clear();
    }
    assert!(current.is_empty(), "Dockerfile ends in a continuation");
    out
}

/// The instructions of each stage (from its `FROM` on).
fn stages() -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for i in instructions() {
        if i.keyword == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(i);
        }
    }
    stages
}

fn json_list(args: &str, what: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{what} should be in exec (JSON) form: `{args}`: {e}"))
}

/// The runtime stage's `USER` uid (numeric, not root).
pub fn image_uid() -> u32 {
    let runtime = stages().pop().unwrap();
    let user = runtime
        .iter()
        .rfind(|i| i.keyword == "USER")
        .expect("the runtime stage sets USER")
        .args
        .clone();
    let uid: u32 = user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
        panic!("USER `{user}` must be numeric (Kubernetes runAsNonRoot checks a number)")
    });
    assert_ne!(uid, 0, "the image runs as root");
    uid
}

/// The runtime stage's `VOLUME` paths.
pub fn image_volumes() -> Vec<PathBuf> {
    stages()
        .pop()
        .unwrap()
        .iter()
        .filter(|i| i.keyword == "VOLUME")
        .flat_map(|i| json_list(&i.args, "VOLUME"))
        .map(PathBuf::from)
        .collect()
}

/// The runtime stage's `EXPOSE`d ports.
pub fn image_ports() -> Vec<u16> {
    stages()
        .pop()
        .unwrap()
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| {
            i.args
                .split_whitespace()
                .map(|p| p.trim_end_matches("/tcp").parse::<u16>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `COPY` destinations of the runtime stage taken from the build context
/// (not `--from`), with their sources.
fn context_copies() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stage in stages() {
        for i in stage.iter().filter(|i| i.keyword == "COPY") {
            if i.args.starts_with("--from") {
                continue;
            }
            let parts: Vec<&str> = i
                .args
                .split_whitespace()
                .filter(|p| !p.starts_with("--"))
                .collect();
            let (dest, sources) = parts.split_last().unwrap();
            for s in sources {
                out.insert(dest.to_string(), s.to_string());
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_locked_in_a_rust_stage_and_runs_non_root_on_a_slim_image() {
    let all = instructions();
    let stages = stages();
    assert!(stages.len() >= 2, "multi-stage build expected");

    // Builder: the Rust image, at least the workspace's rust-version.
    let build = &stages[0];
    let from = &build[0].args;
    assert!(
        from.starts_with("rust:") && from.ends_with(" AS build"),
        "first stage: `FROM {from}`"
    );
    let rust_arg = all
        .iter()
        .find(|i| i.keyword == "ARG" && i.args.starts_with("RUST_VERSION="))
        .expect("ARG RUST_VERSION=")
        .args
        .trim_start_matches("RUST_VERSION=")
        .to_string();
    let workspace = toml_value(&read("Cargo.toml"), "Cargo.toml");
    let msrv = workspace["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let version = |v: &str| -> (u32, u32) {
        let mut it = v.split('.').map(|n| n.parse::<u32>().unwrap());
        (it.next().unwrap(), it.next().unwrap_or(0))
    };
    assert!(
        version(&rust_arg) >= version(msrv),
        "RUST_VERSION {rust_arg} is older than rust-version {msrv}"
    );
    assert!(
        build.iter().any(|i| i.keyword == "RUN"
            && i.args
                .contains("cargo build --release --locked --bin schoolnet")),
        "the builder compiles the release binary from the committed Cargo.lock"
    );

    // Runtime: slim Debian (same release as the builder: same glibc).
    let runtime = stages.last().unwrap();
    let from = &runtime[0].args;
    assert!(
        from.starts_with("debian:${DEBIAN_RELEASE}-slim"),
        "runtime: `FROM {from}`"
    );
    assert!(stages[0][0].args.contains("-${DEBIAN_RELEASE}"));
    let copy_bin = runtime
        .iter()
        .find(|i| i.keyword == "COPY" && i.args.starts_with("--from=build"))
        .expect("the binary is copied from the build stage");
    let entry = json_list(
        &runtime
            .iter()
            .find(|i| i.keyword == "ENTRYPOINT")
            .expect("ENTRYPOINT")
            .args,
        "ENTRYPOINT",
    );
    assert_eq!(entry.len(), 1);
    assert!(
        copy_bin.args.ends_with(&format!(" {}", entry[0])),
        "ENTRYPOINT {} is not the copied binary ({})",
        entry[0],
        copy_bin.args
    );
    let cmd = json_list(
        &runtime
            .iter()
            .find(|i| i.keyword == "CMD")
            .expect("CMD")
            .args,
        "CMD",
    );
    assert_cli_accepts(&cmd, "Dockerfile CMD");

    // Non-root, owning the spool volume it declares.
    let uid = image_uid();
    let volumes = image_volumes();
    assert_eq!(volumes, [PathBuf::from("/var/lib/schoolnet")]);
    assert!(
        runtime.iter().any(|i| i.keyword == "RUN"
            && i.args
                .contains(&format!("-o {uid} -g {uid} /var/lib/schoolnet"))),
        "the runtime stage makes /var/lib/schoolnet owned by uid {uid}: a new volume inherits that"
    );
    // The compose config's spool is on it, its exporter port exposed.
    let compose = toml_value(&read("deploy/compose/schoolnet.toml"), "compose config");
    assert!(spool_dir(&compose, "compose config").starts_with(&volumes[0]));
    assert_eq!(image_ports(), [exporter_port(&compose)]);

    // Health check: the script, copied from deploy/docker/.
    let health = runtime
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .expect("HEALTHCHECK");
    let (_, cmd) = health.args.split_once("CMD ").expect("HEALTHCHECK … CMD");
    let cmd = json_list(cmd, "HEALTHCHECK CMD");
    assert_eq!(
        context_copies().get(&cmd[0]).map(String::as_str),
        Some("deploy/docker/healthcheck.sh"),
        "HEALTHCHECK runs {} which is not deploy/docker/healthcheck.sh",
        cmd[0]
    );
}

/// `.dockerignore` as Docker reads it: patterns in order, `!` re-includes,
/// the last match wins, a pattern matching a directory matches everything
/// below it.
struct DockerIgnore(Vec<(bool, Vec<String>)>);

impl DockerIgnore {
    fn load() -> DockerIgnore {
        let patterns = read(".dockerignore")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (include, p) = match l.strip_prefix('!') {
                    Some(p) => (true, p),
                    None => (false, l),
                };
                let segs = p
                    .trim_start_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_string)
                    .collect();
                (include, segs)
            })
            .collect();
        DockerIgnore(patterns)
    }

    fn included(&self, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').collect();
        let mut included = true;
        for (include, pattern) in &self.0 {
            let p: Vec<&str> = pattern.iter().map(String::as_str).collect();
            if (1..=segs.len()).any(|n| glob(&p, &segs[..n])) {
                included = *include;
            }
        }
        included
    }
}

fn glob(p: &[&str], s: &[&str]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(&"**") => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(seg) => {
            !s.is_empty() && seg_glob(seg.as_bytes(), s[0].as_bytes()) && glob(&p[1..], &s[1..])
        }
    }
}

fn seg_glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| seg_glob(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && seg_glob(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && seg_glob(&p[1..], &s[1..]),
    }
}

/// The repository's files (committed or not, minus .gitignore'd ones).
fn repo_files() -> Vec<String> {
    let out = run_ok(Command::new("git").current_dir(repo()).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]));
    stdout(&out)
        .lines()
        .filter(|f| repo().join(f).is_file())
        .map(str::to_string)
        .collect()
}

#[test]
fn build_context_lets_in_what_the_build_reads_and_resolves_as_a_locked_workspace() {
    let ignore = DockerIgnore::load();
    let files = repo_files();
    let context: Vec<&String> = files.iter().filter(|f| ignore.included(f)).collect();

    // Never the build output or the VCS.
    for p in [
        "target/debug/schoolnet",
        "collector/target/x",
        ".git/HEAD",
        "README.md",
        "tests/cli.rs",
    ] {
        assert!(!ignore.included(p), ".dockerignore lets in {p}");
    }
    // What the Dockerfile copies from the context.
    for (dest, src) in context_copies() {
        if src == "." {
            continue;
        }
        assert!(ignore.included(&src), "COPY {src} {dest}: {src} is ignored");
        assert!(repo().join(&src).exists(), "COPY {src}: no such file");
    }
    // Every workspace member's manifest and sources.
    let workspace = toml_value(&read("Cargo.toml"), "Cargo.toml");
    for member in workspace["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        let manifest = if member == "." {
            "Cargo.toml".to_string()
        } else {
            format!("{member}/Cargo.toml")
        };
        assert!(ignore.included(&manifest), "{manifest} is ignored");
    }
    assert!(ignore.included("Cargo.lock"));
    // Files the sources embed (include_str!/include_bytes!), outside tests.
    for f in &context {
        if !f.ends_with(".rs") || f.contains("/tests/") || f.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for embed in ["include_str!(\"", "include_bytes!(\""] {
            for part in text.split(embed).skip(1) {
                let rel = part.split('"').next().unwrap();
                let target = normalize(&Path::new(f).parent().unwrap().join(rel));
                assert!(
                    ignore.included(&target),
                    "{f} embeds {target}, which .dockerignore leaves out of the build"
                );
            }
        }
    }

    // The pruned context is a complete workspace with the locked deps:
    // `cargo metadata --locked --offline` on a copy of just those files.
    let dir = tempfile::tempdir().unwrap();
    for f in &context {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(f), &to).unwrap();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_ok(
        Command::new(cargo)
            .current_dir(dir.path())
            .args(["metadata", "--locked", "--offline", "--format-version", "1"])
            .args(["--filter-platform", "x86_64-unknown-linux-gnu"])
            .stdout(std::process::Stdio::null()),
    );
}

/// `a/b/../c` -> `a/c`.
fn normalize(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    out.join("/")
}

/// Runs the image's health check script with `SCHOOLNET_HEALTH_PORT`.
fn healthcheck(port: u16) -> std::process::Output {
    let script = repo().join("deploy/docker/healthcheck.sh");
    run(Command::new(&script).env("SCHOOLNET_HEALTH_PORT", port.to_string()))
}

#[test]
fn healthcheck_passes_for_a_serving_collector_and_fails_otherwise() {
    use std::os::unix::fs::PermissionsExt;
    let script = repo().join("deploy/docker/healthcheck.sh");
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert!(
        mode & 0o111 != 0,
        "healthcheck.sh must be executable (COPY keeps the mode)"
    );

    // A real collector: no broker (it keeps retrying), no InfluxDB.
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::free_port();
    let closed = testkit::free_port();
    let inventory = repo().join("deploy/inventory");
    let config = dir.path().join("schoolnet.toml");
    std::fs::write(
        &config,
        format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{closed}\"\n\
             [inventory]\nschools = \"{}\"\ndevices = \"{}\"\n\
             [exporter]\nlisten = \"127.0.0.1:{port}\"\n",
            inventory.join("schools.csv").display(),
            inventory.join("devices.csv").display()
        ),
    )
    .unwrap();
    let mut collector = testkit::ChildProcess::builder(schoolnet())
        .args(["run", "--config"])
        .arg(&config)
        .name("schoolnet-healthcheck")
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = healthcheck(port);
        if out.status.success() {
            break;
        }
        assert!(
            collector.is_running(),
            "schoolnet exited:\n{}",
            collector.log_tail()
        );
        assert!(
            Instant::now() < deadline,
            "healthcheck never passed: {}\n{}",
            stderr(&out),
            collector.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    collector.stop(Duration::from_secs(10));
    let down = healthcheck(port);
    assert!(!down.status.success(), "healthy with nothing listening");

    // Something that answers, but not 200.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().unwrap();
        // The whole request: closing with unread bytes would reset the
        // connection instead of answering.
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    });
    let unhealthy = healthcheck(port);
    server.join().unwrap();
    assert!(!unhealthy.status.success(), "a 503 counted as healthy");
    assert!(stderr(&unhealthy).contains("503"), "{}", stderr(&unhealthy));
}
