//! TLS for the simulator. The real gateway serves a certificate clients must be told to trust;
//! so does the simulator: by default a fresh private CA and a `localhost`/`127.0.0.1` leaf signed
//! by it (rcgen), so clients exercise exactly the "trust this CA PEM" path the daemon uses in
//! production (a CA used directly as the server certificate would be rejected by webpki with
//! `CaUsedAsEndEntity`). Alternatively a given cert/key PEM pair is served as is.
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::SimError;

/// The certificate material the simulator serves.
pub struct TlsMaterial {
    /// PEM of the certificate a client must trust (the generated CA, or the given cert chain).
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

fn tls_err(e: impl std::fmt::Display) -> SimError {
    SimError::Tls(e.to_string())
}

/// Generates a CA and a leaf with SANs `localhost` and `127.0.0.1` (serverAuth).
pub fn generate() -> Result<TlsMaterial, SimError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pbal simulator CA (not IBKR)");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "pbal sim");
    ca_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(tls_err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls_err)?;

    let chain = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(tls_err)?;
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        server_config: server_config(chain, key)?,
    })
}

/// Serves a given certificate chain and key (PEM files). The "CA PEM" written for clients is
/// then the given chain itself.
pub fn from_files(cert: &Path, key: &Path) -> Result<TlsMaterial, SimError> {
    let cert_pem = std::fs::read_to_string(cert)
        .map_err(|e| SimError::Tls(format!("{}: {e}", cert.display())))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| SimError::Tls(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(SimError::Tls(format!(
            "{}: no CERTIFICATE block",
            cert.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| SimError::Tls(format!("{}: {e}", key.display())))?;
    Ok(TlsMaterial {
        ca_pem: cert_pem,
        server_config: server_config(chain, key_der)?,
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, SimError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    // HTTP/1.1 only, like the gateway's vert.x server (no h2 ALPN): clients meet the same
    // protocol, including the 411-on-bare-POST behaviour that only exists in HTTP/1.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_is_a_pem_certificate_distinct_per_start() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(a.ca_pem, b.ca_pem, "each start must mint its own CA");
    }
}
