//! Settings shared by the binaries that talk to the message stream, and the checks of their
//! values.

use std::path::PathBuf;
use std::time::Duration;

use crate::nats::{NatsAccess, NatsCredentials, StreamSettings};
use crate::secret::Secret;

/// Where the message stream lives and how it keeps messages. The first process to start
/// creates the stream; later ones update it to these settings.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Prefix of the stream's name and subjects; deployments sharing a NATS cluster differ here.
    #[arg(long, env = "CHAT_STREAM_PREFIX", default_value = "chat")]
    pub stream_prefix: String,

    /// How long the stream keeps messages (the database keeps them for ever).
    #[arg(long, env = "CHAT_STREAM_MAX_AGE", default_value = "7days", value_parser = humantime::parse_duration)]
    pub stream_max_age: Duration,

    /// Largest size of the stream in bytes; -1 for no limit.
    #[arg(long, env = "CHAT_STREAM_MAX_BYTES", default_value_t = -1, allow_negative_numbers = true)]
    pub stream_max_bytes: i64,

    /// Copies of the stream in a NATS cluster (1, 3 or 5).
    #[arg(long, env = "CHAT_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,

    /// How long a repeated `client_msg_id` is caught by the stream itself (the database catches
    /// it after that).
    #[arg(long, env = "CHAT_STREAM_DUPLICATE_WINDOW", default_value = "2m", value_parser = humantime::parse_duration)]
    pub stream_duplicate_window: Duration,
}

impl StreamArgs {
    pub fn settings(&self) -> StreamSettings {
        StreamSettings {
            max_age: self.stream_max_age,
            max_bytes: self.stream_max_bytes,
            replicas: self.stream_replicas,
            duplicate_window: self.stream_duplicate_window,
        }
    }
}

/// TLS and authentication towards NATS, shared by the node and the persister. A user and
/// password or a token may also be given in `NATS_URL` (`nats://user:password@host`).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsAccessArgs {
    /// PEM file of the certificate authorities NATS servers' certificates must chain to,
    /// instead of the system's; requires TLS.
    #[arg(long, env = "NATS_CA_FILE", value_parser = readable_file)]
    pub nats_ca_file: Option<PathBuf>,

    /// PEM client certificate, for servers that verify clients; requires TLS and
    /// --nats-client-key.
    #[arg(long, env = "NATS_CLIENT_CERT", value_parser = readable_file, requires = "nats_client_key")]
    pub nats_client_cert: Option<PathBuf>,

    /// PEM private key of --nats-client-cert.
    #[arg(long, env = "NATS_CLIENT_KEY", value_parser = readable_file, requires = "nats_client_cert")]
    pub nats_client_key: Option<PathBuf>,

    /// User name to authenticate with; requires --nats-password.
    #[arg(long, env = "NATS_USER", requires = "nats_password", conflicts_with_all = ["nats_token", "nats_nkey_seed", "nats_creds_file"])]
    pub nats_user: Option<String>,

    /// Password of --nats-user.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true, requires = "nats_user")]
    pub nats_password: Option<Secret>,

    /// Token to authenticate with.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true, conflicts_with = "nats_creds_file")]
    pub nats_token: Option<Secret>,

    /// NKey seed (`SU...`) to authenticate with.
    #[arg(long, env = "NATS_NKEY_SEED", hide_env_values = true, conflicts_with_all = ["nats_token", "nats_creds_file"])]
    pub nats_nkey_seed: Option<Secret>,

    /// `.creds` file (a user JWT and its NKey seed) to authenticate with.
    #[arg(long, env = "NATS_CREDS_FILE", value_parser = readable_file)]
    pub nats_creds_file: Option<PathBuf>,
}

impl NatsAccessArgs {
    pub fn access(&self) -> NatsAccess {
        // The flags' conflicts leave at most one kind.
        let credentials = if let (Some(user), Some(password)) = (&self.nats_user, &self.nats_password) {
            Some(NatsCredentials::UserPassword { user: user.clone(), password: password.clone() })
        } else if let Some(token) = &self.nats_token {
            Some(NatsCredentials::Token(token.clone()))
        } else if let Some(seed) = &self.nats_nkey_seed {
            Some(NatsCredentials::NKeySeed(seed.clone()))
        } else {
            self.nats_creds_file.clone().map(NatsCredentials::CredsFile)
        };
        NatsAccess {
            ca_file: self.nats_ca_file.clone(),
            client_certificate: self.nats_client_cert.clone().zip(self.nats_client_key.clone()),
            credentials,
        }
    }
}

/// A path that names a file this process can read, so that a mistyped certificate path stops
/// the start with its name rather than failing the first connection.
pub fn readable_file(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    match std::fs::File::open(&path) {
        Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => Ok(path),
        Ok(_) => Err(format!("{value} is not a file")),
        Err(err) => Err(format!("cannot read {value}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        nats: NatsAccessArgs,
    }

    fn parse(args: &[&str]) -> Result<NatsAccess, clap::Error> {
        let mut argv = vec!["test"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|cli| cli.nats.access())
    }

    #[test]
    fn a_missing_certificate_file_is_refused_with_its_flag_and_path() {
        let err = parse(&["--nats-ca-file", "/no/such/ca.pem"]).unwrap_err().to_string();
        assert!(err.contains("--nats-ca-file") && err.contains("/no/such/ca.pem"), "{err}");
        let err = parse(&["--nats-creds-file", "/"]).unwrap_err().to_string();
        assert!(err.contains("--nats-creds-file") && err.contains("not a file"), "{err}");
    }

    #[test]
    fn a_user_needs_a_password_and_a_certificate_its_key() {
        let err = parse(&["--nats-user", "app"]).unwrap_err().to_string();
        assert!(err.contains("--nats-password"), "{err}");
        let err = parse(&["--nats-client-cert", "/etc/hostname"]).unwrap_err().to_string();
        assert!(err.contains("--nats-client-key"), "{err}");
    }

    #[test]
    fn two_kinds_of_credentials_are_refused() {
        let err = parse(&["--nats-user", "a", "--nats-password", "p", "--nats-token", "t"]).unwrap_err();
        assert!(err.to_string().contains("--nats-token"), "{err}");
        let err = parse(&["--nats-nkey-seed", "SU...", "--nats-creds-file", "/etc/hostname"]).unwrap_err();
        assert!(err.to_string().contains("--nats-creds-file"), "{err}");
    }

    #[test]
    fn the_flags_make_the_access_settings() {
        let access = parse(&["--nats-user", "app", "--nats-password", "pw"]).unwrap();
        assert!(
            matches!(access.credentials, Some(NatsCredentials::UserPassword { ref user, .. }) if user == "app")
        );
        let access = parse(&["--nats-token", "t"]).unwrap();
        assert!(matches!(access.credentials, Some(NatsCredentials::Token(_))));
        let access = parse(&["--nats-nkey-seed", "SU..."]).unwrap();
        assert!(matches!(access.credentials, Some(NatsCredentials::NKeySeed(_))));
        let access = parse(&["--nats-ca-file", "/etc/hostname"]).unwrap();
        assert_eq!(access.ca_file, Some(PathBuf::from("/etc/hostname")));
        assert!(parse(&[]).unwrap().credentials.is_none());
    }
}
