//! TLS towards Redis (`rediss://`): the authorities a server's certificate must chain to, and
//! telling a refused handshake apart from an unreachable server.

use std::path::Path;
use std::time::Duration;

use fred::clients::Client;
use fred::error::{Error, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface};
use fred::types::config::{TlsConfig, TlsConnector};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A TLS configuration that trusts only the certificates of the PEM file `ca_file`.
pub(super) fn trusting(ca_file: &Path) -> Result<TlsConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca_file).map_err(|err| err.to_string())?;
    for certificate in certificates {
        let certificate = certificate.map_err(|err| err.to_string())?;
        roots.add(certificate).map_err(|err| err.to_string())?;
    }
    if roots.is_empty() {
        return Err("it holds no PEM certificate".into());
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(TlsConnector::from(config).into())
}

/// How a client's first connection went.
pub(super) enum FirstConnection {
    Made,
    /// Not within the wait: the client goes on trying. The last error, if any.
    Unreachable(Option<Error>),
    /// The server refused this client or the other way round: trying again will not help.
    Refused(Error),
}

/// Starts `client`'s connection and waits at most `wait` for it. Without `fail_fast`, fred
/// reports a failed attempt only on its error channel, and goes on trying.
pub(super) async fn first_connection(client: &Client, wait: Duration) -> FirstConnection {
    let mut errors = client.error_rx();
    client.connect();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let connected = client.wait_for_connect();
    tokio::pin!(connected);
    let mut last_error = None;
    loop {
        tokio::select! {
            result = &mut connected => return match result {
                Ok(()) => FirstConnection::Made,
                Err(err) if is_refusal(&err) => FirstConnection::Refused(err),
                Err(err) => FirstConnection::Unreachable(Some(err)),
            },
            Ok((err, _)) = errors.recv() => {
                if is_refusal(&err) {
                    return FirstConnection::Refused(err);
                }
                last_error = Some(err);
            }
            () = &mut deadline => return FirstConnection::Unreachable(last_error),
        }
    }
}

/// Whether a connection failed because Redis refused this client or this client refused the
/// server (a certificate that does not check out, wrong credentials), which waiting will not
/// mend, rather than because Redis was unreachable.
pub(super) fn is_refusal(err: &Error) -> bool {
    match err.kind() {
        ErrorKind::Tls | ErrorKind::Auth | ErrorKind::Config => true,
        // tokio-rustls reports a failed handshake as an I/O error of kind `InvalidData`
        // (`InvalidCertificate(UnknownIssuer)`, a TLS alert...), which fred keeps only as text.
        ErrorKind::IO => err.details().contains("InvalidData"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let err = trusting(Path::new("/etc/hostname")).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        assert!(trusting(Path::new("/no/such/ca.pem")).is_err());
    }

    #[test]
    fn an_unreachable_server_is_not_a_refusal_but_a_bad_certificate_is() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_refusal(&Error::from(refused)));
        let handshake =
            std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer");
        assert!(is_refusal(&Error::from(handshake)));
        assert!(is_refusal(&Error::new(ErrorKind::Auth, "WRONGPASS")));
    }
}
