//! Webhooks: HTTP endpoints that operators register to hear of events. Each delivery is signed
//! as the Standard Webhooks specification (standardwebhooks.com) says, so that a receiver can
//! check it came from this deployment with any of that specification's libraries.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use super::ids::{DeliveryId, UserId, WebhookId};
use super::invalid::Invalid;

/// What a webhook hears of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
pub enum EventType {
    /// A message was sent to a room some of whose members are offline.
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "room.created")]
    RoomCreated,
    /// Someone became a member of a room (added, or joined a channel).
    #[serde(rename = "member.added")]
    MemberAdded,
    /// Someone stopped being a member of a room (left, removed or banned).
    #[serde(rename = "member.removed")]
    MemberRemoved,
    /// An administrator disabled a user.
    #[serde(rename = "user.disabled")]
    UserDisabled,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::MessageCreated,
        EventType::RoomCreated,
        EventType::MemberAdded,
        EventType::MemberRemoved,
        EventType::UserDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageCreated => "message.created",
            EventType::RoomCreated => "room.created",
            EventType::MemberAdded => "member.added",
            EventType::MemberRemoved => "member.removed",
            EventType::UserDisabled => "user.disabled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL.into_iter().find(|event| event.as_str() == raw).ok_or(Invalid::EventType)
    }

    /// A list of event types as a client sent it: at least one, each known; sorted, repeats
    /// dropped.
    pub fn parse_list<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<EventType>, Invalid> {
        let mut events = raw.into_iter().map(EventType::parse).collect::<Result<Vec<_>, _>>()?;
        events.sort_unstable();
        events.dedup();
        if events.is_empty() {
            return Err(Invalid::NoEventTypes);
        }
        Ok(events)
    }
}

/// Where deliveries are POSTed: an absolute `http` or `https` URL with a host, without
/// credentials (a secret in a URL ends up in logs; the signature is the authentication), in
/// printable ASCII (international names in their `xn--` form), at most 2000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(Invalid::Length(1, Self::MAX_CHARS));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::UrlCharacters);
        }
        let (scheme, rest) = raw.split_once("://").ok_or(Invalid::UrlScheme)?;
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(Invalid::UrlScheme);
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(Invalid::UrlCredentials);
        }
        let port = match authority.strip_prefix('[') {
            // An IPv6 address: `[::1]` or `[::1]:8080`.
            Some(v6) => {
                let (address, after) = v6.split_once(']').ok_or(Invalid::UrlHost)?;
                if address.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(Invalid::UrlHost);
                }
                match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':').ok_or(Invalid::UrlHost)?),
                }
            }
            None => {
                let (host, port) = match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                };
                let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
                if host.is_empty() || !host.chars().all(host_char) {
                    return Err(Invalid::UrlHost);
                }
                port
            }
        };
        if let Some(port) = port
            && !(port.is_empty() || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()))
        {
            return Err(Invalid::UrlHost);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host, as written (an IPv6 address in its brackets), without the port.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        match authority.find(']') {
            Some(end) if authority.starts_with('[') => &authority[..=end],
            _ => authority.split(':').next().unwrap_or_default(),
        }
    }
}

/// The hosts a deployment lets webhooks be registered for: any, or only those named (so that
/// an administrator's account cannot be used to make the nodes call into the private network).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookHosts(Vec<String>);

impl WebhookHosts {
    /// Only `hosts` (names or addresses, IPv6 ones in brackets; any case); none named allows
    /// any.
    pub fn only(hosts: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let hosts = hosts.into_iter().map(|h| h.as_ref().trim().to_ascii_lowercase());
        Self(hosts.filter(|h| !h.is_empty()).collect())
    }

    pub fn allows(&self, url: &WebhookUrl) -> bool {
        self.0.is_empty() || self.0.iter().any(|host| host.eq_ignore_ascii_case(url.host()))
    }
}

/// A registered endpoint, as stored and shown: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: WebhookUrl,
    pub events: Vec<EventType>,
    pub created_at: DateTime<Utc>,
    /// The administrator who registered it.
    pub created_by: Option<UserId>,
}

impl Webhook {
    pub fn wants(&self, event: EventType) -> bool {
        self.events.contains(&event)
    }
}

/// The key deliveries are signed with, as Standard Webhooks writes it: `whsec_` and the key in
/// base64. Stored as it is (signing needs the key itself, unlike an API key's check), shown
/// once to the administrator who registers the endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";
    /// Random bytes of a key: within the 24 to 64 the specification asks for.
    const KEY_BYTES: usize = 32;

    pub fn generate() -> Self {
        let mut key = [0u8; Self::KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut key);
        Self(format!("{}{}", Self::PREFIX, STANDARD.encode(key)))
    }

    /// A secret read back from the store; one that does not decode signs nothing.
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `webhook-signature` header of a delivery: `v1,` and the base64 HMAC-SHA256, under
    /// the decoded key, of `{id}.{timestamp}.{body}`. `None` for a secret that does not decode,
    /// which only a corrupt row could hold.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> Option<String> {
        let encoded = self.0.strip_prefix(Self::PREFIX).unwrap_or(&self.0);
        let key = STANDARD.decode(encoded).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Something that happened, as every webhook that wants its type receives it. `id` is the
/// event's own: the same for every webhook, and the same when the event is recorded again
/// (a stream message redelivered), which is what keeps it from being enqueued twice.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    pub id: Uuid,
    pub event_type: EventType,
    pub created_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// The body every delivery of it carries, byte for byte the same on every attempt.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            id: Uuid,
            #[serde(rename = "type")]
            event_type: EventType,
            created_at: DateTime<Utc>,
            data: &'a serde_json::Value,
        }
        let body =
            Body { id: self.id, event_type: self.event_type, created_at: self.created_at, data: &self.data };
        serde_json::to_string(&body).expect("an event serializes")
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; another attempt is due at `next_attempt_at`.
    Pending,
    /// A 2xx answered an attempt.
    Delivered,
    /// Every attempt failed and the retries have run out.
    Failed,
}

impl DeliveryStatus {
    /// As the stores keep it (and as it is serialized).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            _ => Err(Invalid::DeliveryStatus),
        }
    }
}

/// One event on its way to one webhook, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The `webhook-id` header of every attempt: what a receiver deduplicates by.
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: Uuid,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// Attempts started so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (pending deliveries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed (`HTTP 500`, `timed out`, `connection failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// When to try a failed delivery again: exponential backoff from `base`, doubling each
/// attempt up to `max_delay`, with jitter so that deliveries that failed together (a receiver
/// that went down) do not all come back at once; no retry once the delivery is `retry_for`
/// old, so the last attempt is made at or after that age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: std::time::Duration,
    pub max_delay: std::time::Duration,
    pub retry_for: std::time::Duration,
}

impl RetryPolicy {
    /// The schedule of production: 5 s, 10 s, 20 s, ... up to an hour between attempts, for a
    /// day.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        base: std::time::Duration::from_secs(5),
        max_delay: std::time::Duration::from_secs(3600),
        retry_for: std::time::Duration::from_secs(24 * 3600),
    };

    /// After attempt number `attempt` (1 for the first) of a delivery enqueued at `created_at`
    /// failed at `now`: when the next is due, or `None` to give up. `jitter`, in [0, 1),
    /// spreads the delay over 75 % to 125 % of its nominal length (never beyond `max_delay`).
    pub fn next_attempt(
        &self,
        attempt: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let age = (now - created_at).to_std().unwrap_or_default();
        if age >= self.retry_for {
            return None;
        }
        let doublings = attempt.saturating_sub(1).min(40);
        let nominal = self.base.saturating_mul(1u32 << doublings.min(31)).min(self.max_delay);
        let spread = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        let delay = nominal.mul_f64(spread).min(self.max_delay);
        chrono::Duration::from_std(delay).ok().and_then(|delay| now.checked_add_signed(delay))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_host_list_allows_its_hosts_in_any_case_and_an_empty_one_allows_all() {
        let url = |raw: &str| WebhookUrl::parse(raw).unwrap();
        let local = WebhookHosts::only(["127.0.0.1", " Hooks.Example.com ", "[::1]", ""]);
        assert!(local.allows(&url("http://127.0.0.1:9000/in")));
        assert!(local.allows(&url("https://hooks.example.COM/in")));
        assert!(local.allows(&url("http://[::1]/")));
        assert!(!local.allows(&url("http://10.0.0.1/")));
        assert!(!local.allows(&url("http://127.0.0.1.example/")));
        assert!(WebhookHosts::default().allows(&url("http://10.0.0.1/")));
        assert!(WebhookHosts::only(Vec::<String>::new()).allows(&url("http://10.0.0.1/")));
    }

    #[test]
    fn event_type_lists_are_sorted_without_repeats_and_never_empty() {
        let events = EventType::parse_list(["user.disabled", "room.created", "user.disabled"]).unwrap();
        assert_eq!(events, [EventType::RoomCreated, EventType::UserDisabled]);
        assert_eq!(EventType::parse_list([]), Err(Invalid::NoEventTypes));
        for bad in ["message", "ROOM.CREATED", "", "room.created "] {
            assert_eq!(EventType::parse_list([bad]), Err(Invalid::EventType), "{bad:?}");
        }
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Ok(event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
    }

    #[test]
    fn urls_are_absolute_http_or_https_with_a_host_and_no_credentials() {
        for good in [
            "https://hooks.example.com/chat",
            "http://127.0.0.1:8080/hook?x=1",
            "HTTPS://example.com",
            "http://[::1]:9000/",
            "https://xn--bcher-kva.example/a#b",
        ] {
            assert_eq!(WebhookUrl::parse(good).map(|u| u.as_str().to_owned()), Ok(good.to_owned()));
        }
        for (bad, why) in [
            ("", Invalid::Length(1, 2000)),
            ("ftp://example.com/", Invalid::UrlScheme),
            ("example.com/hook", Invalid::UrlScheme),
            ("javascript:alert(1)", Invalid::UrlScheme),
            ("https://user:pass@example.com/", Invalid::UrlCredentials),
            ("https://@example.com/", Invalid::UrlCredentials),
            ("https:///path", Invalid::UrlHost),
            ("https://exa mple.com/", Invalid::UrlCharacters),
            ("https://bücher.example/", Invalid::UrlCharacters),
            ("https://example.com:99999/", Invalid::UrlHost),
            ("https://example.com:8o/", Invalid::UrlHost),
            ("http://[::1/", Invalid::UrlHost),
            ("http://[nope]/", Invalid::UrlHost),
        ] {
            assert_eq!(WebhookUrl::parse(bad), Err(why), "{bad:?}");
        }
        let hosts: Vec<String> = ["https://Hooks.example.com:8443/x@y", "http://[::1]:9000/", "http://a?b:c"]
            .iter()
            .map(|raw| WebhookUrl::parse(raw).unwrap().host().to_owned())
            .collect();
        assert_eq!(hosts, ["Hooks.example.com", "[::1]", "a"]);
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert_eq!(WebhookUrl::parse(&long), Err(Invalid::Length(1, 2000)));
    }

    /// The example of the Standard Webhooks specification and its reference libraries.
    #[test]
    fn a_signature_matches_the_standard_webhooks_test_vector() {
        let secret = WebhookSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert_eq!(WebhookSecret::from_stored("whsec_!!!").sign("id", 1, "{}"), None);
    }

    #[test]
    fn secrets_are_unique_prefixed_sign_and_never_print() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_") && a.expose().len() == 6 + 44, "{}", a.expose());
        assert_ne!(a.sign("id", 1, "{}"), b.sign("id", 1, "{}"));
        assert!(!format!("{a:?}").contains(&a.expose()[6..]));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap_and_stop_after_the_retry_period() {
        let policy = RetryPolicy::DEFAULT;
        let created = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let delay = |attempt: u32, age_secs: i64, jitter: f64| {
            let now = created + chrono::Duration::seconds(age_secs);
            policy.next_attempt(attempt, created, now, jitter).map(|at| (at - now).num_milliseconds())
        };
        assert_eq!(delay(1, 0, 0.5), Some(5_000));
        assert_eq!(delay(2, 5, 0.5), Some(10_000));
        assert_eq!(delay(3, 15, 0.5), Some(20_000));
        assert_eq!(delay(1, 0, 0.0), Some(3_750), "jitter spreads from 75 %");
        assert_eq!(delay(1, 0, 0.999_999), Some(6_249), "to 125 %");
        assert_eq!(delay(12, 3600, 0.5), Some(3_600_000), "capped at an hour");
        assert_eq!(delay(12, 3600, 0.99), Some(3_600_000), "jitter does not pass the cap");
        assert_eq!(delay(u32::MAX, 3600, 0.5), Some(3_600_000));
        assert!(delay(30, 24 * 3600 - 1, 0.5).is_some(), "retried for a day");
        assert_eq!(delay(30, 24 * 3600, 0.5), None, "then given up");

        // Attempts made on schedule reach the day's end, with the last one at or after it.
        let (mut at, mut attempt) = (created, 1);
        while let Some(next) = policy.next_attempt(attempt, created, at, 0.0) {
            (at, attempt) = (next, attempt + 1);
        }
        assert!(at - created >= chrono::Duration::hours(24), "{at}");
        assert!((25..=45).contains(&attempt), "{attempt} attempts");
    }

    #[test]
    fn an_events_body_is_the_standard_envelope() {
        let event = WebhookEvent {
            id: Uuid::nil(),
            event_type: EventType::RoomCreated,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            data: serde_json::json!({"room": {"id": "r"}}),
        };
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "type": "room.created",
                "created_at": "2026-01-01T00:00:00Z",
                "data": {"room": {"id": "r"}},
            })
        );
    }
}
