//! A throwaway PKI for TLS tests, generated with rcgen when the test runs
//! (no key is ever committed, no `openssl` command is needed): one CA, a
//! server certificate for `127.0.0.1` and `localhost`, and a client
//! certificate, each written as PEM into a temp dir.
//!
//! ```no_run
//! let pki = testkit::TestPki::generate();
//! // pki.ca, pki.server_cert, pki.server_key, pki.client_cert, pki.client_key
//! ```

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// PEM files of a generated CA, server and client certificate.
pub struct TestPki {
    /// The CA certificate (trust anchor for both sides).
    pub ca: PathBuf,
    /// Server certificate for `127.0.0.1`, `::1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server certificate's private key (PKCS#8, mode 0600).
    pub server_key: PathBuf,
    /// Client certificate, common name `schoolnet-collector`.
    pub client_cert: PathBuf,
    /// The client certificate's private key (PKCS#8, mode 0600).
    pub client_key: PathBuf,
    /// A second, unrelated CA: trusting it instead of [`Self::ca`] must fail.
    pub other_ca: PathBuf,
    dir: TempDir,
}

impl TestPki {
    /// Generates everything into a new temp dir (removed on drop).
    pub fn generate() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("testkit-pki-")
            .tempdir()
            .expect("testkit: pki temp dir");
        let (ca_pem, issuer) = ca("schoolnet test CA");
        let (other_pem, _) = ca("unrelated test CA");
        let server = leaf(
            &issuer,
            "127.0.0.1",
            &["127.0.0.1", "::1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            &issuer,
            "schoolnet-collector",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let p = |name: &str| dir.path().join(name);
        write(&p("ca.pem"), &ca_pem, false);
        write(&p("other-ca.pem"), &other_pem, false);
        write(&p("server.pem"), &server.0, false);
        write(&p("server-key.pem"), &server.1, true);
        write(&p("client.pem"), &client.0, false);
        write(&p("client-key.pem"), &client.1, true);
        TestPki {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server-key.pem"),
            client_cert: p("client.pem"),
            client_key: p("client-key.pem"),
            other_ca: p("other-ca.pem"),
            dir,
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate's PEM text.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca).expect("testkit: read ca.pem")
    }
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("testkit: CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("testkit: CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("testkit: self-sign CA");
    (cert.pem(), Issuer::new(params, key))
}

/// (certificate PEM, private key PEM) signed by `issuer`.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().expect("testkit: leaf key");
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("testkit: leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("testkit: sign leaf");
    (cert.pem(), key.serialize_pem())
}

/// Writes `text`; private keys get mode 0600, certificates 0644.
fn write(path: &Path, text: &str, secret: bool) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("testkit: write {}: {e}", path.display()));
    let mode = if secret { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("testkit: chmod {}: {e}", path.display()));
}
