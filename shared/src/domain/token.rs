use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ids::{LoginId, UserId};

/// A signed access token and how long it lives.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_secs: u64,
}

/// What a verified access token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub token_id: Uuid,
    /// The login the token was issued to; `None` for tokens issued before access tokens named
    /// their login, which cannot be revoked and live until they expire.
    pub login: Option<LoginId>,
}

/// An opaque refresh token as the client holds it: 32 random bytes, base64url.
/// Only its hash is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> Self {
        Self(random_secret())
    }

    /// Any string a client presents; an unknown one simply matches no stored hash.
    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// 32 random bytes in base64url: the secret part of refresh tokens and API keys.
pub(super) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of a refresh token or an API key's secret: what the store keeps and looks up by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }
}

/// A stored refresh token. Tokens of one login form a family: each refresh spends one token and
/// issues its successor in the same family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub token_hash: TokenHash,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_refresh_tokens_are_unique_and_hash_stably() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.hash(), RefreshToken::from_client(a.expose()).hash());
        assert_ne!(a.hash(), b.hash());
    }
}
