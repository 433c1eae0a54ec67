use testkit::TestPki;

use super::*;

const HASH: &str = "$2y$04$Wzx3bz9n3LoVdo3KqP8QdeAmy8zvJc0TwB9G.RVPb8UgrQxC6aZWO";

fn parse(text: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
    WebConfig::parse(Path::new("/etc/schoolnet/web.yml"), text, base)
}

#[test]
fn tls_and_users_with_paths_relative_to_the_file() {
    let pki = TestPki::generate();
    std::fs::copy(&pki.server_cert, pki.dir().join("exporter.crt")).unwrap();
    let text = format!(
        "# Prometheus exporter-toolkit format\n\
         tls_server_config:\n  cert_file: exporter.crt\n  key_file: {}\n\
         basic_auth_users:\n  prometheus: {HASH}\n  grafana: '{HASH}'\n",
        pki.server_key.display()
    );
    let web = parse(&text, pki.dir()).unwrap();
    assert!(web.tls.is_some());
    assert!(web.auth_required());
    assert_eq!(
        web.users.keys().collect::<Vec<_>>(),
        vec!["grafana", "prometheus"]
    );
    let debug = format!("{web:?}");
    assert!(
        debug.contains("prometheus") && !debug.contains("$2y$"),
        "{debug}"
    );
}

#[test]
fn empty_file_and_auth_only_are_valid() {
    let web = parse("# nothing yet\n\n", Path::new("/")).unwrap();
    assert!(web.tls.is_none() && !web.auth_required());
    let web = parse(&format!("basic_auth_users:\n  p: {HASH}\n"), Path::new("/")).unwrap();
    assert!(web.tls.is_none() && web.auth_required());
}

#[test]
fn unsupported_toolkit_keys_are_errors_not_ignored() {
    let pki = TestPki::generate();
    let text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    let e = parse(&text, pki.dir()).unwrap_err().to_string();
    assert!(
        e.starts_with("exporter.web_config_file /etc/schoolnet/web.yml: "),
        "{e}"
    );
    assert!(e.contains("client_auth_type"), "{e}");
    let e = parse("http_server_config:\n  http2: false\n", pki.dir())
        .unwrap_err()
        .to_string();
    assert!(e.contains("http_server_config"), "{e}");
}

#[test]
fn a_plain_password_instead_of_a_hash_is_refused_without_echoing_it() {
    let e = parse(
        "basic_auth_users:\n  prometheus: hunter2hunter2\n",
        Path::new("/"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn missing_or_wrong_tls_files_name_the_key_and_file() {
    let pki = TestPki::generate();
    let text = "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n";
    let e = parse(text, pki.dir()).unwrap_err().to_string();
    assert!(
        e.contains("tls_server_config.cert_file") && e.contains("nope.crt"),
        "{e}"
    );
    // The client's key with the server's certificate.
    let text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server_cert.display(),
        pki.client_key.display()
    );
    let e = parse(&text, pki.dir()).unwrap_err().to_string();
    assert!(
        e.contains("tls_server_config.key_file") && e.contains("does not belong"),
        "{e}"
    );
}

#[test]
fn load_reads_the_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let e = WebConfig::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("exporter.web_config_file") && e.contains("cannot read"),
        "{e}"
    );
    std::fs::write(&path, format!("basic_auth_users:\n  p: {HASH}\n")).unwrap();
    assert!(WebConfig::load(&path).unwrap().auth_required());
}
