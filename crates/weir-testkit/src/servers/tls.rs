//! Certificates made fresh for a test: a certificate authority, a server
//! certificate for the loopback address signed by it, and a client identity
//! for mutual TLS. Nothing is read from or trusted on the machine.
//!
//! ```
//! use weir_testkit::servers::tls::TestCertificates;
//! let certs = TestCertificates::generate();
//! assert!(certs.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(certs.client_key_pem().contains("PRIVATE KEY"));
//! ```

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A test CA with a server certificate (for `127.0.0.1` and `localhost`)
/// and a client certificate, all in PEM.
#[derive(Clone)]
pub struct TestCertificates {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

impl std::fmt::Debug for TestCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCertificates").finish_non_exhaustive()
    }
}

/// Where [`TestCertificates::write_to`] put the files a server reads.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    /// The CA certificate (to verify clients).
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("making the test {what} failed: {e}")
}

impl TestCertificates {
    /// Makes a new CA and the certificates it signs.
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().unwrap_or_else(|e| fail("CA key", e));
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail("CA", e));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weir test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)
            .unwrap_or_else(|e| fail("CA certificate", e));

        let leaf = |name: &str, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap_or_else(|e| fail("key", e));
            let mut params =
                CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .unwrap_or_else(|e| fail("certificate", e));
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![purpose];
            let cert = params
                .signed_by(&key, &ca)
                .unwrap_or_else(|e| fail("certificate", e));
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) =
            leaf("weir test server", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, client_key) =
            leaf("weir test client", ExtendedKeyUsagePurpose::ClientAuth);
        TestCertificates {
            ca: ca.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }

    /// The CA certificate, for clients to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca
    }

    /// The client certificate (for mutual TLS).
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert
    }

    /// The client's private key (for mutual TLS).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key
    }

    /// Writes the CA certificate and the server's certificate and key into `dir`.
    pub fn write_to(&self, dir: &Path) -> CertificateFiles {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let files = CertificateFiles {
            ca: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        for (path, pem) in [
            (&files.ca, &self.ca),
            (&files.cert, &self.server_cert),
            (&files.key, &self.server_key),
        ] {
            std::fs::write(path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
        files
    }
}
