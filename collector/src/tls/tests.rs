use std::path::Path;

use testkit::TestPki;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn certificates_and_keys_load_and_belong_together() {
    let pki = TestPki::generate();
    let certs = read_certs("mqtt.ca_file", &pki.ca).unwrap();
    assert_eq!(certs.len(), 1);
    let client = ClientCert::pair(
        "mqtt.client_cert_file",
        Some(&pki.client_cert),
        "mqtt.client_key_file",
        Some(&pki.client_key),
    )
    .unwrap()
    .unwrap();
    let (chain, _key) = client.load().unwrap();
    assert_eq!(chain.len(), 1);
    client_config(Some(("mqtt.ca_file", &pki.ca)), Some(client)).unwrap();
    client_config(Some(("mqtt.ca_file", &pki.ca)), None).unwrap();
}

#[test]
fn unreadable_and_non_pem_files_name_the_key_and_file() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("nope.pem");
    let e = read_certs("influx.ca_file", &missing)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("influx.ca_file "), "{e}");
    assert!(e.contains("nope.pem") && e.contains("cannot read"), "{e}");

    let text = write(pki.dir(), "text.pem", "just some text\n");
    let e = read_certs("mqtt.ca_file", &text).unwrap_err().to_string();
    assert!(e.contains("mqtt.ca_file") && e.contains("text.pem"), "{e}");
    assert!(e.contains("no PEM certificate"), "{e}");

    // A certificate where the key should be.
    let e = read_private_key("mqtt.client_key_file", &pki.client_cert)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mqtt.client_key_file") && e.contains("client.pem"),
        "{e}"
    );
    assert!(e.contains("no PEM private key"), "{e}");
}

#[test]
fn key_parse_errors_never_quote_the_key() {
    let pki = TestPki::generate();
    let key = std::fs::read_to_string(&pki.client_key).unwrap();
    // Corrupt the base64 body but keep the PEM frame.
    let body_line = key.lines().nth(1).unwrap().to_string();
    let broken = key.replace(&body_line, &format!("{}!!", &body_line[..20]));
    let path = write(pki.dir(), "broken-key.pem", &broken);
    let e = read_private_key("exporter tls_server_config.key_file", &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken-key.pem"), "{e}");
    assert!(!e.contains(&body_line[..20]), "error quotes the key: {e}");

    let no_end = key.lines().take(2).collect::<Vec<_>>().join("\n");
    let path = write(pki.dir(), "truncated-key.pem", &no_end);
    let e = read_private_key("mqtt.client_key_file", &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no END line"), "{e}");
    assert!(!e.contains(&body_line[..20]), "error quotes the key: {e}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let pki = TestPki::generate();
    let client = ClientCert {
        cert_key: "mqtt.client_cert_file",
        cert_file: &pki.client_cert,
        key_key: "mqtt.client_key_file",
        key_file: &pki.server_key,
    };
    let e = client.load().unwrap_err().to_string();
    assert!(e.contains("mqtt.client_key_file"), "{e}");
    assert!(e.contains("does not belong to the certificate"), "{e}");
}

#[test]
fn a_certificate_without_its_key_is_a_setup_error() {
    let p = Path::new("/x.pem");
    let e = ClientCert::pair("a.cert", Some(p), "a.key", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.cert is set but a.key is not"), "{e}");
    let e = ClientCert::pair("a.cert", None, "a.key", Some(p))
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.key is set but a.cert is not"), "{e}");
    assert!(ClientCert::pair("a.cert", None, "a.key", None)
        .unwrap()
        .is_none());
}

#[test]
fn server_and_http_client_configs_load_and_name_bad_files() {
    let pki = TestPki::generate();
    let cert = "tls_server_config.cert_file";
    let key = "tls_server_config.key_file";
    server_config(cert, &pki.server_cert, key, &pki.server_key).unwrap();
    let e = server_config(cert, &pki.server_cert, key, &pki.client_key)
        .unwrap_err()
        .to_string();
    assert!(e.contains(key) && e.contains("does not belong"), "{e}");

    let client = ClientCert::pair(
        "influx.client_cert_file",
        Some(&pki.client_cert),
        "influx.client_key_file",
        Some(&pki.client_key),
    )
    .unwrap();
    let ca = Some(("influx.ca_file", pki.ca.as_path()));
    reqwest_tls(reqwest::Client::builder(), ca, client)
        .unwrap()
        .build()
        .unwrap();
    let text = write(pki.dir(), "not-a-ca.pem", "text\n");
    let e = reqwest_tls(
        reqwest::Client::builder(),
        Some(("influx.ca_file", &text)),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("influx.ca_file ") && e.contains("not-a-ca.pem"),
        "{e}"
    );
}
