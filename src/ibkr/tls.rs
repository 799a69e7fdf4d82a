//! TLS trust for the gateway: a CA file, or a pinned certificate — never "accept anything".
//!
//! The gateway ships an expired, SAN-less, self-signed certificate, which is why every tutorial
//! says `curl -k`. pbal offers two safe ways instead:
//! - `gateway.ca_cert`: a PEM file of the CA (or certificates) to trust. Normal WebPKI checks
//!   (chain, validity, host name) stay on; only the root store is replaced.
//! - `gateway.pin_sha256`: trust exactly one end-entity certificate, identified by the SHA-256
//!   of its DER, like SSH `known_hosts`. Expiry, SANs and issuer are ignored *for that one
//!   certificate*, so the stock gateway certificate works; any other certificate is refused.
//!   The handshake signature is still verified against the pinned certificate's key, so only
//!   the holder of its private key can complete the handshake.
//!
//! With neither set, the root store is empty and every certificate is refused with a message
//! that says how to fix it. We always build the rustls `ClientConfig` ourselves (with the
//! `ring` provider) and hand it to reqwest, so no process-global crypto provider is needed.
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use super::error::GatewayError;

/// How the gateway's certificate is trusted, decided once from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMode {
    /// Certificates from this PEM file are the only roots.
    CaFile(std::path::PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pinned([u8; 32]),
    /// Nothing configured: every certificate is refused (with advice).
    Nothing,
}

/// The ring provider: the project builds without aws-lc (no C toolchain needed).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate's DER encoding.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// `AB:CD:…` (upper-case, colon-separated), the format `openssl x509 -fingerprint` prints.
pub fn format_fingerprint(fp: &[u8]) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a pin: 64 hex digits, upper or lower case, with or without `:`/space separators,
/// optionally prefixed `sha256:` / `SHA256=`.
///
/// # Errors
/// [`GatewayError::Config`] naming `gateway.pin_sha256`.
pub fn parse_pin(text: &str) -> Result<[u8; 32], GatewayError> {
    let t = text.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .or_else(|| t.strip_prefix("sha256="))
        .or_else(|| t.strip_prefix("SHA256="))
        .unwrap_or(t);
    let hex_digits: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let bytes = hex::decode(&hex_digits).map_err(|_| {
        GatewayError::Config(format!(
            "gateway.pin_sha256 `{text}` is not hex (expected 64 hex digits, colons allowed)"
        ))
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        GatewayError::Config(format!(
            "gateway.pin_sha256 has {} bytes, expected 32 (a SHA-256 fingerprint)",
            bytes.len()
        ))
    })
}

/// Decides the trust mode from config values.
///
/// # Errors
/// Malformed pin, or both options set.
pub fn trust_mode(
    ca_cert: Option<&Path>,
    pin_sha256: Option<&str>,
) -> Result<TrustMode, GatewayError> {
    let pin = pin_sha256.filter(|p| !p.trim().is_empty());
    let ca = ca_cert.filter(|p| !p.as_os_str().is_empty());
    match (ca, pin) {
        (Some(_), Some(_)) => Err(GatewayError::Config(
            "set either gateway.ca_cert or gateway.pin_sha256, not both".into(),
        )),
        (Some(p), None) => Ok(TrustMode::CaFile(p.to_path_buf())),
        (None, Some(pin)) => Ok(TrustMode::Pinned(parse_pin(pin)?)),
        (None, None) => Ok(TrustMode::Nothing),
    }
}

/// Reads every certificate in a PEM file.
///
/// # Errors
/// Unreadable file or no certificate in it.
pub fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let bytes = std::fs::read(path)
        .map_err(|e| GatewayError::Config(format!("gateway.ca_cert {}: {e}", path.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            GatewayError::Config(format!(
                "gateway.ca_cert {}: not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(GatewayError::Config(format!(
            "gateway.ca_cert {}: contains no `-----BEGIN CERTIFICATE-----` block",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the rustls client configuration for a trust mode (HTTP/1.1 ALPN: the gateway is a
/// vert.x HTTP/1.1 proxy).
///
/// # Errors
/// Unreadable CA file or a certificate rustls refuses as a root.
pub fn client_config(mode: &TrustMode) -> Result<rustls::ClientConfig, GatewayError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Config(format!("TLS setup: {e}")))?;
    let mut config = match mode {
        TrustMode::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in load_pem_certs(path)? {
                roots.add(cert).map_err(|e| {
                    GatewayError::Config(format!(
                        "gateway.ca_cert {}: certificate not usable as a trust anchor: {e}",
                        path.display()
                    ))
                })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TrustMode::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertVerifier::new(*pin, &provider)))
            .with_no_client_auth(),
        TrustMode::Nothing => builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The payload of the rustls error raised when a pinned connection sees another certificate;
/// the client turns it into [`GatewayError::PinMismatch`].
#[derive(Debug)]
pub struct PinMismatch {
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate SHA-256 {} does not match the pin {}",
            self.actual, self.expected
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Accepts exactly one end-entity certificate (by SHA-256 of its DER) and still checks the
/// handshake signatures with that certificate's key.
#[derive(Debug)]
pub struct PinnedCertVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    pub fn new(pin: [u8; 32], provider: &CryptoProvider) -> Self {
        Self {
            pin,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = fingerprint(end_entity.as_ref());
        // Not secret data, but compare without early exit anyway.
        let diff = actual
            .iter()
            .zip(self.pin.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch {
                    expected: format_fingerprint(&self.pin),
                    actual: format_fingerprint(&actual),
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Turns a rustls error found in a failed request into a message the user can act on.
pub(crate) fn classify_rustls(err: &rustls::Error, mode: &TrustMode, host: &str) -> GatewayError {
    if let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = err
        && let Some(pm) = other.0.downcast_ref::<PinMismatch>()
    {
        return GatewayError::PinMismatch {
            expected: pm.expected.clone(),
            actual: pm.actual.clone(),
        };
    }
    let why = match err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer => match mode {
                TrustMode::Nothing => "it is not signed by a trusted CA and neither \
                    gateway.ca_cert nor gateway.pin_sha256 is set"
                    .to_owned(),
                TrustMode::CaFile(p) => format!(
                    "it is not signed by the CA in gateway.ca_cert ({})",
                    p.display()
                ),
                TrustMode::Pinned(_) => "unknown issuer".to_owned(),
            },
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "it has expired (the gateway's stock certificate expired in 2019; \
                 pinning it is safe, or install your own with `pbal cert generate`)"
                    .to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "it is not valid for the host name `{host}` (it needs a subjectAltName \
                     for `{host}`; `pbal cert generate` makes one for localhost and 127.0.0.1)"
                )
            }
            CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                "the gateway presents a CA certificate as its own; install a leaf certificate \
                 signed by that CA (`pbal cert generate` makes both)"
                    .to_owned()
            }
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    };
    GatewayError::TlsUntrusted { detail: why }
}

/// What `pbal cert pin` and `pbal check` show about a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub fingerprint: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// Subject alternative names (DNS names and IPs), empty if none.
    pub sans: Vec<String>,
    pub self_signed: bool,
    pub expired: bool,
}

/// Describes a DER certificate (for display only; trust decisions never depend on this).
pub fn describe(der: &[u8]) -> CertInfo {
    let fp = format_fingerprint(&fingerprint(der));
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let sans = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|ext| ext.value.general_names.iter().map(general_name).collect())
                .unwrap_or_default();
            CertInfo {
                fingerprint: fp,
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before: cert.validity().not_before.to_string(),
                not_after: cert.validity().not_after.to_string(),
                sans,
                self_signed: cert.subject() == cert.issuer(),
                expired: !cert.validity().is_valid(),
            }
        }
        Err(e) => CertInfo {
            fingerprint: fp,
            subject: format!("(unparseable certificate: {e})"),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            sans: Vec::new(),
            self_signed: false,
            expired: false,
        },
    }
}

fn general_name(n: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match n {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                format!("IP:{}", std::net::Ipv6Addr::from(a))
            }
            _ => format!("IP:{}", hex::encode(b)),
        },
        other => other.to_string(),
    }
}

/// Records the certificate chain the server presents, then aborts the handshake: used by
/// `pbal cert pin` to show what to pin. Nothing is trusted and no request is sent.
#[derive(Debug)]
struct CaptureVerifier {
    captured: Mutex<Vec<CertificateDer<'static>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CaptureVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut c) = self.captured.lock() {
            c.push(end_entity.clone().into_owned());
            c.extend(intermediates.iter().map(|i| i.clone().into_owned()));
        }
        Err(rustls::Error::General("certificate captured".into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Connects to an `https://` URL and returns the certificate chain it presents (end entity
/// first), without trusting it.
///
/// # Errors
/// Bad URL, connection failure, or no certificate received.
pub async fn fetch_server_chain(
    url: &url::Url,
    timeout: std::time::Duration,
) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    if url.scheme() != "https" {
        return Err(GatewayError::Config(format!(
            "{url}: only https:// gateways present a certificate to pin"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| GatewayError::Config(format!("{url}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let provider = provider();
    let verifier = Arc::new(CaptureVerifier {
        captured: Mutex::new(Vec::new()),
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(host.clone())
        .map_err(|e| GatewayError::Config(format!("{url}: bad host name: {e}")))?;
    let unreachable = |detail: String| GatewayError::Unreachable {
        url: url.to_string(),
        detail,
    };
    let fut = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // The handshake fails by design once the certificate is captured.
        let _ = connector.connect(server_name, tcp).await;
        Ok::<(), GatewayError>(())
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| unreachable("TLS handshake timed out".into()))??;
    let chain = verifier
        .captured
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    if chain.is_empty() {
        return Err(unreachable(
            "the server did not present a certificate (is it really an https:// gateway?)".into(),
        ));
    }
    Ok(chain)
}

/// A freshly generated private CA and a `localhost` leaf it signed (for the gateway keystore),
/// all PEM-encoded.
#[derive(Debug, Clone)]
pub struct GeneratedPki {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub leaf_cert_pem: String,
    pub leaf_key_pem: String,
}

/// Generates a CA and a leaf for `names` (DNS names or IP addresses), ECDSA P-256, valid for
/// ~10 years from now: the leaf carries the SANs and `serverAuth` that rustls requires, and is
/// not itself a CA (rustls refuses a CA used as end entity).
///
/// # Errors
/// Only if rcgen fails (it does not for these inputs).
pub fn generate_pki(names: &[String]) -> Result<GeneratedPki, GatewayError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    };
    let err = |e: rcgen::Error| GatewayError::Config(format!("certificate generation: {e}"));
    let ((y0, m0, d0), (y1, m1, d1)) = validity_window();
    let not_before = rcgen::date_time_ymd(y0, m0, d0);
    let not_after = rcgen::date_time_ymd(y1, m1, d1);
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "pbal gateway CA");
    dn.push(DnType::OrganizationName, "pbal (local)");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    leaf.distinguished_name = dn;
    leaf.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;
    Ok(GeneratedPki {
        ca_cert_pem: ca_pem,
        ca_key_pem: issuer.key().serialize_pem(),
        leaf_cert_pem: leaf_cert.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    })
}

/// Yesterday (clock skew between the machine and the gateway host) to ten years from today.
type Ymd = (i32, u8, u8);
fn validity_window() -> (Ymd, Ymd) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Days::new(1);
    // Month ≤ 12 and day ≤ 28 fit in u8; day 28 keeps "ten years later" a valid date.
    let ymd = |y: i32, m: u32, d: u32| (y, m as u8, d.min(28) as u8);
    (
        ymd(start.year(), start.month(), start.day()),
        ymd(today.year() + 10, today.month(), today.day()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_parsing_accepts_common_spellings() {
        let hex = "ab".repeat(32);
        let colon = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&hex).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&colon).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&format!("sha256:{hex}")).unwrap(), [0xab; 32]);
        let e = parse_pin("abcd").unwrap_err().to_string();
        assert!(e.contains("gateway.pin_sha256") && e.contains("32"), "{e}");
        let e = parse_pin("zz").unwrap_err().to_string();
        assert!(e.contains("not hex"), "{e}");
    }

    #[test]
    fn fingerprint_format_round_trips_through_parse() {
        let fp = fingerprint(b"certificate bytes");
        assert_eq!(parse_pin(&format_fingerprint(&fp)).unwrap(), fp);
    }

    #[test]
    fn trust_mode_rejects_both() {
        let e = trust_mode(Some(Path::new("/x.pem")), Some(&"ab".repeat(32))).unwrap_err();
        assert!(e.to_string().contains("not both"));
        assert_eq!(trust_mode(None, Some("  ")).unwrap(), TrustMode::Nothing);
    }

    #[test]
    fn generated_leaf_has_sans_and_is_signed_by_ca() {
        let pki = generate_pki(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = CertificateDer::from_pem_slice(pki.leaf_cert_pem.as_bytes()).unwrap();
        let info = describe(leaf.as_ref());
        assert!(
            info.sans.iter().any(|s| s.contains("localhost")),
            "{info:?}"
        );
        assert!(
            info.sans.iter().any(|s| s.contains("127.0.0.1")),
            "{info:?}"
        );
        assert!(!info.self_signed && !info.expired);
        assert!(info.issuer.contains("pbal gateway CA"), "{info:?}");
        // The CA file is loadable as a trust anchor.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, &pki.ca_cert_pem).unwrap();
        assert!(client_config(&TrustMode::CaFile(p)).is_ok());
    }

    #[test]
    fn ca_file_without_certificates_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a pem").unwrap();
        let e = client_config(&TrustMode::CaFile(p))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gateway.ca_cert"), "{e}");
    }
}
