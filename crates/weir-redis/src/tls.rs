//! TLS settings for `rediss://` servers whose certificate is not signed by
//! a CA the machine trusts, or that require client certificates.

use weir_core::BrokerError;

/// What a `rediss://` connection trusts and presents, all in PEM. Without
/// any of it, the machine's trusted CAs verify the server and no client
/// certificate is sent.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Trust only this CA certificate (instead of the machine's).
    pub(crate) root_certificate: Option<Vec<u8>>,
    /// A client certificate and its private key, for mutual TLS.
    pub(crate) client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Certificates are long and the key is secret: say only what is set.
        f.debug_struct("TlsSettings")
            .field("root_certificate", &self.root_certificate.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .finish()
    }
}

impl TlsSettings {
    pub(crate) fn is_set(&self) -> bool {
        self.root_certificate.is_some() || self.client_identity.is_some()
    }
}

/// A client for `url` that uses `tls` (when set), on the process-wide rustls
/// crypto provider (ring, installed here unless one already is).
#[cfg(feature = "tls")]
pub(crate) fn client(
    url: &str,
    endpoint: &str,
    tls: &TlsSettings,
) -> Result<redis::Client, BrokerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let invalid = |e: redis::RedisError| {
        BrokerError::InvalidConfig(format!("redis url `{endpoint}` with TLS settings: {e}"))
    };
    if !tls.is_set() {
        return redis::Client::open(url).map_err(invalid);
    }
    check_pem(tls).map_err(|what| {
        BrokerError::InvalidConfig(format!("redis url `{endpoint}` with TLS settings: {what}"))
    })?;
    let certificates = certificates(tls).ok_or_else(|| {
        BrokerError::InvalidConfig(format!("redis url `{endpoint}`: no TLS settings"))
    })?;
    redis::Client::build_with_tls(url, certificates).map_err(invalid)
}

/// The TLS settings as the redis client takes them (`None` when none are set).
#[cfg(feature = "tls")]
pub(crate) fn certificates(tls: &TlsSettings) -> Option<redis::TlsCertificates> {
    tls.is_set().then(|| redis::TlsCertificates {
        client_tls: tls
            .client_identity
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
        root_cert: tls.root_certificate.clone(),
    })
}

/// Checks that the PEM given holds what it should (the redis client would
/// otherwise accept an empty trust store and fail only at the handshake).
#[cfg(feature = "tls")]
fn check_pem(tls: &TlsSettings) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certificates = |pem: &[u8], what: &str| {
        let n = CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map_err(|e| format!("{what}: {e}")))
            .collect::<Result<Vec<_>, _>>()?
            .len();
        if n == 0 {
            return Err(format!("{what} holds no PEM certificate"));
        }
        Ok(())
    };
    if let Some(root) = &tls.root_certificate {
        certificates(root, "the root certificate")?;
    }
    if let Some((cert, key)) = &tls.client_identity {
        certificates(cert, "the client certificate")?;
        PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| format!("the client key holds no PEM private key: {e}"))?;
    }
    Ok(())
}

/// Without the `tls` feature only plain `redis://` is possible (the config
/// refuses `rediss://` and TLS settings before this is reached).
#[cfg(not(feature = "tls"))]
pub(crate) fn client(
    url: &str,
    endpoint: &str,
    _tls: &TlsSettings,
) -> Result<redis::Client, BrokerError> {
    redis::Client::open(url)
        .map_err(|e| BrokerError::InvalidConfig(format!("redis url `{endpoint}`: {e}")))
}
