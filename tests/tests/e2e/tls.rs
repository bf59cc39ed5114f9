//! TLS to PostgreSQL, Redis and NATS, against real servers given certificates of a throwaway
//! authority made here; and secrets that never show in `--help` or logs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::ConnectErrorKind;
use chat_adapters::nats::{NatsAccess, NatsCredentials, NatsError, NatsLog, StreamSettings};
use chat_adapters::postgres;
use chat_adapters::redis::{RedisConnectError, RedisPresence};
use chat_adapters::secret::Secret;
use chat_tests::outage::{NatsAuth, PrivateNats, PrivatePostgres, PrivateRedis, ServerTls};
use chat_tests::process::{Process, run_to_exit};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{TestStream, admin_url};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use serde_json::{Value, json};
use sqlx::PgPool;

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");
const PERSISTER: &str = env!("CARGO_BIN_EXE_chat-persister-under-test");

const NATS_USER: &str = "chat";
const NATS_PASSWORD: &str = "nats-pa55word-never-shown";
const JWT_SECRET: &str = "jwt-secret-never-shown-at-least-32-bytes";
const DATABASE_PASSWORD: &str = "pg-pa55word-never-shown";

/// A certificate authority, a server certificate for 127.0.0.1 and a client certificate that
/// it signed, and another authority that signed nothing: the wrong CA. PEM files in a folder
/// removed on drop.
struct Pki {
    dir: PathBuf,
    server: ServerTls,
    /// A certificate of the same authority for another host than 127.0.0.1.
    misnamed: ServerTls,
    /// A client certificate and its key.
    client: (PathBuf, PathBuf),
    other_ca: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("chat-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = authority("chat test CA");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let ca_file = write("ca.crt", ca.pem());
        let server_for = |host: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![host.to_owned()]).unwrap();
            params.distinguished_name.push(DnType::CommonName, host);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            let cert = params.signed_by(&key, &*ca).unwrap();
            ServerTls {
                cert: write(&format!("{host}.crt"), cert.pem()),
                key: write(&format!("{host}.key"), key.serialize_pem()),
                ca: ca_file.clone(),
            }
        };
        let server = server_for("127.0.0.1");
        let misnamed = server_for("elsewhere.example");
        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "chat-node");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = params.signed_by(&client_key, &*ca).unwrap();
        let client =
            (write("client.crt", client_cert.pem()), write("client.key", client_key.serialize_pem()));
        let other_ca = write("other-ca.crt", authority("some other CA").pem());
        Self { dir, server, misnamed, client, other_ca }
    }

    fn ca(&self) -> &Path {
        &self.server.ca
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Whether the pool's session is encrypted, as the server sees it.
async fn session_uses_tls(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetch_one(pool).await
}

fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[tokio::test]
async fn sslmode_require_encrypts_the_sessions_with_the_shared_postgresql() {
    let pool = postgres::connect_lazy(&with_query(&admin_url(), "sslmode=require"), 1, "tls test").unwrap();
    assert!(session_uses_tls(&pool).await.unwrap());
    let plain = postgres::connect_lazy(&with_query(&admin_url(), "sslmode=disable"), 1, "tls test").unwrap();
    assert!(!session_uses_tls(&plain).await.unwrap(), "the check tells a plain session apart");
}

#[tokio::test]
async fn postgresql_verify_full_takes_the_right_ca_and_refuses_a_wrong_ca_or_host_name() {
    let pki = Pki::new();
    let server = PrivatePostgres::start_with(Some(&pki.server)).await.unwrap();
    let url = server.url("postgres");

    let trusting = postgres::connect_lazy_trusting(&url, Some(pki.ca()), 1, "tls test").unwrap();
    assert!(session_uses_tls(&trusting).await.unwrap());
    let ca = pki.ca().display();
    let in_url = with_query(&url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let in_url = postgres::connect_lazy(&in_url, 1, "tls test").unwrap();
    assert!(session_uses_tls(&in_url).await.unwrap());

    let wrong_ca = postgres::connect_lazy_trusting(&url, Some(&pki.other_ca), 1, "tls test").unwrap();
    let err = session_uses_tls(&wrong_ca).await.unwrap_err();
    assert!(err.to_string().contains("invalid peer certificate: UnknownIssuer"), "{err}");
    // The certificate names 127.0.0.1, not localhost.
    let other_host = url.replace("127.0.0.1", "localhost");
    let wrong_host = postgres::connect_lazy_trusting(&other_host, Some(pki.ca()), 1, "tls test").unwrap();
    let err = session_uses_tls(&wrong_host).await.unwrap_err();
    assert!(err.to_string().contains("certificate not valid for name"), "{err}");
    // A URL asking for verify-ca keeps it. (sqlx 0.8.6 checks the host name then too: the
    // variant that rustls 0.23 reports a name mismatch with escapes it, sqlx#3793.)
    let verify_ca = with_query(&url, "sslmode=verify-ca");
    let verify_ca = postgres::connect_lazy_trusting(&verify_ca, Some(pki.ca()), 1, "tls test").unwrap();
    assert!(session_uses_tls(&verify_ca).await.unwrap());
    let wrong_ca = with_query(&url, "sslmode=verify-ca");
    let wrong_ca = postgres::connect_lazy_trusting(&wrong_ca, Some(&pki.other_ca), 1, "tls test").unwrap();
    assert!(session_uses_tls(&wrong_ca).await.is_err());
}

#[tokio::test]
async fn rediss_takes_the_right_ca_and_refuses_a_wrong_one() {
    let pki = Pki::new();
    let server = PrivateRedis::start_with(Some(&pki.server)).await.unwrap();
    let stream = TestStream::new();
    let prefix = &stream.prefix;

    let presence =
        RedisPresence::connect_trusting(&server.url(), Some(pki.ca()), prefix, "node-a").await.unwrap();
    assert!(!presence.heartbeat_was_known(Duration::from_secs(5)).await.unwrap(), "a first beat");
    assert!(presence.heartbeat_was_known(Duration::from_secs(5)).await.unwrap(), "answered over TLS");
    presence.close().await;

    let wrong = RedisPresence::connect_trusting(&server.url(), Some(&pki.other_ca), prefix, "node-b").await;
    assert!(matches!(wrong, Err(RedisConnectError::Refused(_))), "{:?}", wrong.err());
    let plain_url = server.url().replace("rediss://", "redis://");
    let plain = RedisPresence::connect_trusting(&plain_url, Some(pki.ca()), prefix, "node-c").await;
    assert!(matches!(plain, Err(RedisConnectError::CaWithoutTls)), "{:?}", plain.err());
}

#[tokio::test]
async fn rediss_refuses_a_certificate_for_another_host() {
    let pki = Pki::new();
    let server = PrivateRedis::start_with(Some(&pki.misnamed)).await.unwrap();
    let stream = TestStream::new();
    let misnamed =
        RedisPresence::connect_trusting(&server.url(), Some(pki.ca()), &stream.prefix, "node-a").await;
    match misnamed {
        Err(RedisConnectError::Refused(reason)) => {
            assert!(format!("{reason:?}").contains("NotValidForName"), "{reason:?}")
        }
        other => panic!("{:?}", other.err()),
    }
}

fn nats_user() -> NatsAuth {
    NatsAuth::User { user: NATS_USER.into(), password: NATS_PASSWORD.into() }
}

fn nats_access(ca: &Path, password: &str) -> NatsAccess {
    NatsAccess {
        ca_file: Some(ca.to_owned()),
        credentials: Some(NatsCredentials::UserPassword {
            user: NATS_USER.into(),
            password: Secret::from(password.to_owned()),
        }),
        ..NatsAccess::default()
    }
}

fn connect_kind(result: Result<NatsLog, NatsError>) -> ConnectErrorKind {
    match result {
        Err(NatsError::Connect { source, .. }) => source.kind(),
        Err(other) => panic!("not a connection failure: {other:?}"),
        Ok(_) => panic!("connected"),
    }
}

#[tokio::test]
async fn nats_over_tls_takes_the_right_ca_and_password_and_refuses_a_wrong_one() {
    let pki = Pki::new();
    let server = PrivateNats::start_with(Some(&pki.server), Some(nats_user())).await.unwrap();
    let settings = StreamSettings::default;

    let log = NatsLog::connect_with(&server.url(), &nats_access(pki.ca(), NATS_PASSWORD), "tls", settings())
        .await
        .unwrap();
    assert!(!log.append("room", "d1", "hello".into()).await.unwrap().duplicate);
    let in_url = server.url().replace("tls://", &format!("tls://{NATS_USER}:{NATS_PASSWORD}@"));
    let access = NatsAccess { ca_file: Some(pki.ca().to_owned()), ..NatsAccess::default() };
    NatsLog::connect_with(&in_url, &access, "tls", settings()).await.unwrap();

    let url = server.url();
    let wrong_ca = nats_access(&pki.other_ca, NATS_PASSWORD);
    let wrong_ca = NatsLog::connect_with(&url, &wrong_ca, "tls", settings()).await.err().unwrap();
    assert!(format!("{wrong_ca:?}").contains("UnknownIssuer"), "{wrong_ca:?}");
    let wrong_password = nats_access(pki.ca(), "not-the-password");
    let wrong_password = NatsLog::connect_with(&url, &wrong_password, "tls", settings()).await;
    assert_eq!(connect_kind(wrong_password), ConnectErrorKind::AuthorizationViolation);
    // The error names the server, not the password in its URL.
    let wrong_in_url = in_url.replace(NATS_PASSWORD, "wrong-pa55word");
    let err = NatsLog::connect_with(&wrong_in_url, &access, "tls", settings()).await.err().unwrap();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains(&format!("tls://{NATS_USER}:***@127.0.0.1")) && !shown.contains("wrong-pa55word"),
        "{shown}"
    );
}

#[tokio::test]
async fn nats_over_tls_refuses_a_certificate_for_another_host() {
    let pki = Pki::new();
    let server = PrivateNats::start_with(Some(&pki.misnamed), Some(nats_user())).await.unwrap();
    let access = nats_access(pki.ca(), NATS_PASSWORD);
    let err =
        NatsLog::connect_with(&server.url(), &access, "tls", StreamSettings::default()).await.err().unwrap();
    assert!(format!("{err:?}").contains("NotValidForName"), "{err:?}");
}

/// A NATS JWT: `claims` (with `nats.type`) issued by `issuer` about `subject`, signed with the
/// issuer's NKey as nats-server checks it.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, nats: Value) -> String {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": chrono::Utc::now().timestamp(),
        "iss": issuer.public_key(),
        "sub": subject,
        "name": subject,
        "nats": nats,
    });
    let signed = format!("{header}.{}", encode(claims.to_string().as_bytes()));
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", encode(&signature))
}

/// An operator that trusts one account with JetStream, the server configuration that says so,
/// and a `.creds` file of a user of that account, as `nsc` would write them.
struct Operator {
    config: String,
    creds: PathBuf,
}

impl Operator {
    fn new(dir: &Path) -> Self {
        let operator = nkeys::KeyPair::new_operator();
        // JetStream needs the server's own account beside the users'.
        let system = nkeys::KeyPair::new_account();
        let account = nkeys::KeyPair::new_account();
        let user = nkeys::KeyPair::new_user();
        let operator_jwt = nats_jwt(
            &operator,
            &operator.public_key(),
            json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
        );
        let system_jwt = nats_jwt(&operator, &system.public_key(), json!({"type": "account", "version": 2}));
        let unlimited = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
            "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
        });
        let account_jwt = nats_jwt(
            &operator,
            &account.public_key(),
            json!({"type": "account", "version": 2, "limits": unlimited}),
        );
        let user_jwt = nats_jwt(
            &account,
            &user.public_key(),
            json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
        );
        let config = format!(
            "operator: {operator_jwt}\nsystem_account: {system}\nresolver: MEMORY\n\
             resolver_preload: {{ {system}: {system_jwt}, {account}: {account_jwt} }}\n",
            system = system.public_key(),
            account = account.public_key(),
        );
        let creds = dir.join("user.creds");
        std::fs::write(
            &creds,
            format!(
                "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
                user.seed().unwrap()
            ),
        )
        .unwrap();
        Self { config, creds }
    }
}

#[tokio::test]
async fn nats_takes_a_creds_file_of_a_user_its_operator_trusts_and_refuses_another() {
    let pki = Pki::new();
    let trusted = Operator::new(&pki.dir);
    let server = PrivateNats::start_with(Some(&pki.server), Some(NatsAuth::Config(trusted.config.clone())))
        .await
        .unwrap();
    let with_creds = |creds: &Path| NatsAccess {
        ca_file: Some(pki.ca().to_owned()),
        credentials: Some(NatsCredentials::CredsFile(creds.to_owned())),
        ..NatsAccess::default()
    };
    let log =
        NatsLog::connect_with(&server.url(), &with_creds(&trusted.creds), "tls", StreamSettings::default())
            .await
            .unwrap();
    assert!(!log.append("room", "d1", "hello".into()).await.unwrap().duplicate, "JetStream answers");

    let elsewhere = pki.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let stranger = Operator::new(&elsewhere);
    let refused =
        NatsLog::connect_with(&server.url(), &with_creds(&stranger.creds), "tls", StreamSettings::default())
            .await;
    assert_eq!(connect_kind(refused), ConnectErrorKind::AuthorizationViolation);
}

#[tokio::test]
async fn nats_takes_a_token_from_the_settings_or_the_url() {
    let pki = Pki::new();
    let token = "nats-t0ken";
    let server =
        PrivateNats::start_with(Some(&pki.server), Some(NatsAuth::Token(token.into()))).await.unwrap();
    let trusting = NatsAccess { ca_file: Some(pki.ca().to_owned()), ..NatsAccess::default() };
    let with_token = |token: &str| NatsAccess {
        credentials: Some(NatsCredentials::Token(Secret::from(token.to_owned()))),
        ..trusting.clone()
    };

    NatsLog::connect_with(&server.url(), &with_token(token), "tls", StreamSettings::default()).await.unwrap();
    let in_url = server.url().replace("tls://", &format!("tls://{token}@"));
    NatsLog::connect_with(&in_url, &trusting, "tls", StreamSettings::default()).await.unwrap();
    let wrong =
        NatsLog::connect_with(&server.url(), &with_token("guess"), "tls", StreamSettings::default()).await;
    assert_eq!(connect_kind(wrong), ConnectErrorKind::AuthorizationViolation);
}

#[tokio::test]
async fn nats_takes_an_nkey_seed_and_refuses_another_key() {
    let pki = Pki::new();
    let user = nkeys::KeyPair::new_user();
    let server =
        PrivateNats::start_with(Some(&pki.server), Some(NatsAuth::NKey(user.public_key()))).await.unwrap();
    let with_seed = |seed: String| NatsAccess {
        ca_file: Some(pki.ca().to_owned()),
        credentials: Some(NatsCredentials::NKeySeed(Secret::from(seed))),
        ..NatsAccess::default()
    };

    let known = with_seed(user.seed().unwrap());
    NatsLog::connect_with(&server.url(), &known, "tls", StreamSettings::default()).await.unwrap();
    let stranger = with_seed(nkeys::KeyPair::new_user().seed().unwrap());
    let refused = NatsLog::connect_with(&server.url(), &stranger, "tls", StreamSettings::default()).await;
    assert_eq!(connect_kind(refused), ConnectErrorKind::AuthorizationViolation);
}

#[tokio::test]
async fn nats_verifying_clients_takes_the_client_certificate_and_refuses_a_client_without() {
    let pki = Pki::new();
    let server = PrivateNats::start_verifying_clients(&pki.server).await.unwrap();
    let without = NatsAccess { ca_file: Some(pki.ca().to_owned()), ..NatsAccess::default() };
    let with = NatsAccess { client_certificate: Some(pki.client.clone()), ..without.clone() };

    let log = NatsLog::connect_with(&server.url(), &with, "tls", StreamSettings::default()).await.unwrap();
    assert!(!log.append("room", "d1", "hello".into()).await.unwrap().duplicate);
    assert!(NatsLog::connect_with(&server.url(), &without, "tls", StreamSettings::default()).await.is_err());
}

/// PostgreSQL, Redis and NATS of one test, all requiring TLS with the certificate of `pki`;
/// NATS also a user and password.
struct TlsServices {
    pki: Pki,
    /// Runs until the test ends; reached through `database_url`.
    _postgres: PrivatePostgres,
    redis: PrivateRedis,
    nats: PrivateNats,
    /// The database of the test, its URL carrying a password (that the server, trusting
    /// local connections, does not check).
    database_url: String,
    stream: TestStream,
}

impl TlsServices {
    async fn start() -> Self {
        let pki = Pki::new();
        let postgres = PrivatePostgres::start_with(Some(&pki.server)).await.unwrap();
        let redis = PrivateRedis::start_with(Some(&pki.server)).await.unwrap();
        let nats = PrivateNats::start_with(Some(&pki.server), Some(nats_user())).await.unwrap();
        let database_url = postgres.create_database("chat").await.unwrap();
        let database_url = database_url.replace("postgres@", &format!("postgres:{DATABASE_PASSWORD}@"));
        Self { pki, _postgres: postgres, redis, nats, database_url, stream: TestStream::new() }
    }

    /// The arguments of both binaries: NATS and PostgreSQL over TLS, trusting the test's CA.
    /// The password and the other secrets are in `envs`.
    fn persister_args(&self) -> Vec<String> {
        let ca = self.pki.ca().display().to_string();
        let args = [
            "--nats-url",
            &self.nats.url(),
            "--nats-ca-file",
            &ca,
            "--nats-user",
            NATS_USER,
            "--database-ca-file",
            &ca,
            "--stream-prefix",
            &self.stream.prefix,
        ];
        args.iter().map(|s| s.to_string()).collect()
    }

    /// The persister's arguments, and Redis over TLS trusting the test's CA.
    fn node_args(&self) -> Vec<String> {
        let ca = self.pki.ca().display().to_string();
        let redis =
            ["--redis-url", &self.redis.url(), "--redis-ca-file", &ca, "--redis-prefix", &self.stream.prefix];
        let cheap_hashes = ["--argon2-memory-kib", "1024", "--argon2-iterations", "1"];
        let mut args = self.persister_args();
        args.extend(redis.iter().chain(&cheap_hashes).map(|s| s.to_string()));
        args
    }

    fn envs(&self) -> [(&str, &str); 4] {
        [
            ("DATABASE_URL", &self.database_url),
            ("NATS_PASSWORD", NATS_PASSWORD),
            ("JWT_SECRET", JWT_SECRET),
            ("RUST_LOG", "debug"),
        ]
    }

    async fn persisted(&self) -> i64 {
        let pool =
            postgres::connect_lazy_trusting(&self.database_url, Some(self.pki.ca()), 1, "tls test").unwrap();
        sqlx::query_scalar("select count(*) from messages").fetch_one(&pool).await.unwrap()
    }
}

async fn post(node: &Process, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = reqwest::Client::new().post(format!("http://{}{path}", node.addr)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_node_and_a_persister_over_tls_to_all_three_services_store_a_message_and_log_no_secret() {
    let services = TlsServices::start().await;
    let logs = services.pki.dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (node_log, persister_log) = (logs.join("node.log"), logs.join("persister.log"));
    let node = Process::logging_to(NODE, &services.node_args(), &services.envs(), &node_log).await.unwrap();
    // The persister has its NATS user and password in the URL instead.
    let plain_url = services.nats.url();
    let in_url = plain_url.replace("tls://", &format!("tls://{NATS_USER}:{NATS_PASSWORD}@"));
    let persister_args: Vec<String> = (services.persister_args().into_iter())
        .filter(|arg| arg != "--nats-user" && arg != NATS_USER)
        .map(|arg| if arg == plain_url { in_url.clone() } else { arg })
        .collect();
    let persister_envs: Vec<_> =
        services.envs().into_iter().filter(|(name, _)| *name != "NATS_PASSWORD").collect();
    let persister =
        Process::logging_to(PERSISTER, &persister_args, &persister_envs, &persister_log).await.unwrap();

    let ann =
        post(&node, "/auth/register", None, json!({"username": "ann", "password": "ann-password"})).await;
    let token = ann["access_token"].as_str().unwrap();
    let room =
        post(&node, "/rooms", Some(token), json!({"name": "tls", "type": "group", "member_ids": []})).await;
    let mut ws = WsClient::connect(node.addr, Some(token), Codec::Json).await.unwrap();
    let reply = ws.request(json!({"type": "send", "room": room["id"], "content": "over TLS"})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["message"]["content"], "over TLS");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while services.persisted().await < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(services.persisted().await, 1, "the persister wrote it over TLS");
    drop((ws, node, persister));

    for log in [node_log, persister_log] {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("DEBUG"), "{}: logged at debug level", log.display());
        for secret in [NATS_PASSWORD, JWT_SECRET, DATABASE_PASSWORD] {
            assert!(!text.contains(secret), "{} shows {secret}:\n{text}", log.display());
        }
    }
}

#[tokio::test]
async fn a_wrong_ca_or_password_stops_the_node_at_start_naming_the_service() {
    let services = TlsServices::start().await;
    let good = services.node_args();
    let other_ca = services.pki.other_ca.display().to_string();
    let database_url = services.database_url.clone();
    let with = |changes: &[(&str, &str)]| {
        let mut args = good.clone();
        for (flag, value) in changes {
            let at = args.iter().position(|a| a == flag).unwrap();
            args[at + 1] = value.to_string();
        }
        args.extend([
            "--database-url".into(),
            database_url.clone(),
            "--nats-password".into(),
            NATS_PASSWORD.into(),
        ]);
        args.extend(["--jwt-secret".into(), JWT_SECRET.into(), "--listen".into(), "127.0.0.1:0".into()]);
        args
    };
    let cases = [
        (with(&[("--database-ca-file", &other_ca)]), "PostgreSQL (DATABASE_URL"),
        (with(&[("--redis-ca-file", &other_ca)]), "Redis (REDIS_URL"),
        (with(&[("--nats-ca-file", &other_ca)]), "NATS (NATS_URL"),
        (with(&[("--nats-user", "intruder")]), "NATS (NATS_URL"),
    ];
    for (args, service) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = run_to_exit(NODE, &args).await.unwrap();
        assert_eq!(code, Some(1), "{service}: {stderr}");
        assert!(stderr.contains(service), "{service}: {stderr}");
        assert!(!stderr.contains(NATS_PASSWORD) && !stderr.contains(DATABASE_PASSWORD), "{stderr}");
    }
}

#[tokio::test]
async fn help_shows_no_secret_from_the_environment() {
    let secrets = [
        ("DATABASE_URL", "postgres://app:db-secret-1@db/chat"),
        ("REDIS_URL", "rediss://:redis-secret-2@cache:6380"),
        ("NATS_URL", "tls://app:nats-secret-3@nats:4222"),
        ("NATS_PASSWORD", "nats-secret-4"),
        ("NATS_TOKEN", "nats-secret-5"),
        ("NATS_NKEY_SEED", "SUnats-secret-7"),
        ("JWT_SECRET", "jwt-secret-6-that-is-long-enough-for-hs256"),
    ];
    for binary in [NODE, PERSISTER] {
        let output = tokio::process::Command::new(binary).arg("--help").envs(secrets).output().await.unwrap();
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("NATS_PASSWORD") && help.contains("DATABASE_URL"), "{help}");
        for (_, value) in secrets {
            assert!(!help.contains(value), "{binary} --help shows {value}:\n{help}");
        }
    }
}
