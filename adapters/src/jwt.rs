//! Access tokens as HS256 JWTs with `sub`, `exp`, `iat`, `jti` and `sid` (the login).

use chat_shared::domain::{AccessClaims, AccessToken, LoginId, UserId};
use chat_shared::ports::{TokenError, TokenIssuer};
use chrono::{DateTime, Duration, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
    jti: String,
    /// The login; absent from tokens issued before tokens named it, which are still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtIssuer {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injected clock below, not the library's own.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(&self, user: UserId, login: LoginId, now: DateTime<Utc>) -> AccessToken {
        let claims = Claims {
            sub: user.to_string(),
            exp: (now + self.ttl).timestamp(),
            iat: now.timestamp(),
            jti: Uuid::new_v4().to_string(),
            sid: Some(login.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        AccessToken { token, expires_in_secs: self.ttl.num_seconds().max(0) as u64 }
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let user_id = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        let token_id = claims.jti.parse().map_err(|_| TokenError::Invalid)?;
        let login = claims.sid.map(|sid| sid.parse()).transpose().map_err(|_| TokenError::Invalid)?;
        let expires_at = Utc.timestamp_opt(claims.exp, 0).single().ok_or(TokenError::Invalid)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(AccessClaims { user_id, expires_at, token_id, login })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_until_it_expires() {
        let issuer = JwtIssuer::new(b"secret", Duration::minutes(15));
        let (user, login) = (UserId::generate(), LoginId::generate());
        let now = Utc::now();
        let token = issuer.issue(user, login, now);
        assert_eq!(token.expires_in_secs, 900);
        let claims = issuer.verify(&token.token, now).unwrap();
        assert_eq!((claims.user_id, claims.login), (user, Some(login)));
        let later = now + Duration::minutes(16);
        assert_eq!(issuer.verify(&token.token, later), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_signed_with_another_key_or_mangled_is_invalid() {
        let ours = JwtIssuer::new(b"secret", Duration::minutes(15));
        let theirs = JwtIssuer::new(b"other", Duration::minutes(15));
        let now = Utc::now();
        let forged = theirs.issue(UserId::generate(), LoginId::generate(), now).token;
        assert_eq!(ours.verify(&forged, now), Err(TokenError::Invalid));
        assert_eq!(ours.verify("not.a.jwt", now), Err(TokenError::Invalid));
        assert_eq!(ours.verify("", now), Err(TokenError::Invalid));
    }

    /// Signs `claims` as this issuer would.
    fn signed(claims: &serde_json::Value) -> String {
        let key = EncodingKey::from_secret(b"secret");
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
    }

    #[test]
    fn a_token_issued_before_tokens_named_their_login_is_valid_without_one() {
        let ours = JwtIssuer::new(b"secret", Duration::minutes(15));
        let (user, now) = (UserId::generate(), Utc::now());
        let exp = (now + Duration::minutes(5)).timestamp();
        let old = serde_json::json!({"sub": user.to_string(), "exp": exp, "iat": now.timestamp(), "jti": Uuid::new_v4().to_string()});
        let claims = ours.verify(&signed(&old), now).unwrap();
        assert_eq!((claims.user_id, claims.login), (user, None));
    }

    #[test]
    fn a_token_whose_login_is_no_id_is_invalid() {
        let ours = JwtIssuer::new(b"secret", Duration::minutes(15));
        let now = Utc::now();
        let exp = (now + Duration::minutes(5)).timestamp();
        for sid in [serde_json::json!("not-a-uuid"), serde_json::json!(7)] {
            let claims = serde_json::json!({"sub": UserId::generate().to_string(), "exp": exp, "iat": 0, "jti": Uuid::new_v4().to_string(), "sid": sid});
            assert_eq!(ours.verify(&signed(&claims), now), Err(TokenError::Invalid), "{sid}");
        }
    }

    #[test]
    fn a_token_with_the_none_algorithm_is_invalid() {
        let ours = JwtIssuer::new(b"secret", Duration::minutes(15));
        // {"alg":"none","typ":"JWT"}.{"sub":...}. with no signature
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let body = "eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJleHAiOjk5OTk5OTk5OTl9";
        assert_eq!(ours.verify(&format!("{header}.{body}."), Utc::now()), Err(TokenError::Invalid));
    }
}
