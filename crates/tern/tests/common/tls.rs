//! A certificate authority made for one test and a server certificate it signs for 127.0.0.1,
//! for the peers that speak TLS (the PAP gateways of tests/pap.rs and tests/pap_https.rs).

use std::path::{Path, PathBuf};

pub struct ServerCert {
    /// The CA's certificate (PEM), what `push.pap.ca_file` names.
    pub ca_file: PathBuf,
    /// The server's certificate and private key (PKCS #8), as PEM files.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The same certificate and key, DER.
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

/// A new CA, and a certificate it signs for 127.0.0.1, written into `dir`.
pub fn server_cert(dir: &Path) -> ServerCert {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Tern test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
    let server = ServerCert {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("server.pem"),
        key_file: dir.join("server-key.pem"),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    };
    std::fs::write(&server.ca_file, ca.pem()).unwrap();
    std::fs::write(&server.cert_file, cert.pem()).unwrap();
    std::fs::write(&server.key_file, key.serialize_pem()).unwrap();
    server
}
