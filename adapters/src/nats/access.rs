//! How a process checks the NATS servers it reaches and proves who it is to them: TLS roots, a
//! client certificate, and one kind of credentials.

use std::fmt;
use std::path::PathBuf;

use async_nats::{ConnectOptions, ServerAddr};
use percent_encoding::percent_decode_str;

use crate::secret::Secret;

/// TLS and authentication settings of a NATS connection. The default is what a plain
/// `nats://` URL gets: TLS only if the server asks for it, checked against the system's
/// certificates, and whatever credentials the URL carries.
#[derive(Debug, Clone, Default)]
pub struct NatsAccess {
    /// PEM certificates of the authorities the servers' certificates must chain to, instead
    /// of the system's. Setting it requires TLS.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for servers that verify clients. Setting it
    /// requires TLS.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    pub credentials: Option<NatsCredentials>,
}

/// One way of authenticating to NATS.
#[derive(Clone)]
pub enum NatsCredentials {
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
    /// An NKey seed (`SU...`): the server knows the user by its public key.
    NKeySeed(Secret),
    /// A `.creds` file: the user's JWT and NKey seed, as `nsc` writes it.
    CredsFile(PathBuf),
}

impl fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserPassword { user, .. } => write!(f, "UserPassword({user:?}, <redacted>)"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::NKeySeed(_) => f.write_str("NKeySeed(<redacted>)"),
            Self::CredsFile(path) => write!(f, "CredsFile({path:?})"),
        }
    }
}

impl NatsAccess {
    /// `options` with these settings, for connecting to `servers`; without credentials of its
    /// own, those of the first URL that has some. Fails only when the `.creds` file cannot be
    /// read or parsed.
    pub(super) async fn apply(
        &self,
        mut options: ConnectOptions,
        servers: &[&str],
    ) -> std::io::Result<ConnectOptions> {
        if let Some(ca_file) = &self.ca_file {
            options = options.add_root_certificates(ca_file.clone());
        }
        if let Some((cert, key)) = &self.client_certificate {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if self.ca_file.is_some() || self.client_certificate.is_some() {
            // Without this, a server that does not offer TLS would get the credentials in the
            // clear although the operator asked for a checked server.
            options = options.require_tls(true);
        }
        match self.credentials.clone().or_else(|| credentials_in_urls(servers)) {
            None => Ok(options),
            Some(NatsCredentials::UserPassword { user, password }) => {
                Ok(options.user_and_password(user, password.expose().to_owned()))
            }
            Some(NatsCredentials::Token(token)) => Ok(options.token(token.expose().to_owned())),
            Some(NatsCredentials::NKeySeed(seed)) => Ok(options.nkey(seed.expose().to_owned())),
            Some(NatsCredentials::CredsFile(path)) => options.credentials_file(path).await,
        }
    }
}

/// The credentials of the first of `servers` that has some: async-nats parses
/// `nats://user:password@host` and `nats://token@host` but does not send them
/// (nats-io/nats.rs#1623).
/// A URL that does not parse is skipped here: connecting reports it.
fn credentials_in_urls(servers: &[&str]) -> Option<NatsCredentials> {
    let server = servers
        .iter()
        .filter_map(|url| url.parse::<ServerAddr>().ok())
        .find(|server| server.has_user_pass())?;
    let decode = |part: &str| percent_decode_str(part).decode_utf8_lossy().into_owned();
    let user = decode(server.username()?);
    Some(match server.password() {
        Some(password) => NatsCredentials::UserPassword { user, password: Secret::from(decode(password)) },
        None => NatsCredentials::Token(Secret::from(user)),
    })
}

/// `url` without its credentials, which async-nats would otherwise show in its debug logs.
/// A URL that does not parse is returned as it is, for connecting to report.
pub(super) fn without_credentials(url: &str) -> String {
    match url.parse::<ServerAddr>() {
        Ok(server) if server.has_user_pass() => {
            let mut url = server.into_inner();
            // Both fail only for URLs that cannot have credentials, which this one has.
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_a_user_and_password_or_a_token() {
        let found = credentials_in_urls(&["nats://n1:4222", "tls://app:p%40ss@n2:4222"]);
        match found {
            Some(NatsCredentials::UserPassword { user, password }) => {
                assert_eq!((user.as_str(), password.expose()), ("app", "p@ss"));
            }
            other => panic!("{other:?}"),
        }
        let found = credentials_in_urls(&["nats://s3cr3t@n1:4222"]);
        assert!(matches!(found, Some(NatsCredentials::Token(token)) if token.expose() == "s3cr3t"));
        assert!(credentials_in_urls(&["nats://n1:4222", "n2:4222", "http://u:p@h"]).is_none());
    }

    #[test]
    fn credentials_are_taken_out_of_the_urls_given_to_the_client() {
        assert_eq!(without_credentials("tls://app:pw@n1:4222"), "tls://n1:4222");
        assert_eq!(without_credentials("nats://t0ken@n1:4222"), "nats://n1:4222");
        assert_eq!(without_credentials("nats://n1:4222"), "nats://n1:4222");
        assert_eq!(without_credentials("n1:4222"), "n1:4222");
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let access = NatsAccess {
            credentials: Some(NatsCredentials::UserPassword {
                user: "app".into(),
                password: Secret::from("pa55word".to_owned()),
            }),
            ..NatsAccess::default()
        };
        let shown = format!("{access:?}");
        assert!(shown.contains("app") && !shown.contains("pa55word"), "{shown}");
        let token = format!("{:?}", NatsCredentials::Token(Secret::from("t0ken".to_owned())));
        assert!(!token.contains("t0ken"), "{token}");
    }
}
