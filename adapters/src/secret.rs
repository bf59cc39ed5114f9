//! Settings that must not be shown: a wrapper whose `Debug` hides the value, and URLs with
//! their password blanked for logs and error messages.

use std::fmt;

/// A setting that must not appear in logs or `Debug` output: a password, a key, a token, or a
/// URL that may carry a password.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `urls` (one, or several comma separated) with the password of each replaced by `***`:
/// `nats://app:pw@host` becomes `nats://app:***@host`. A user without a password is taken for a
/// token (`nats://token@host`) and blanked too.
pub fn redacted_urls(urls: &str) -> String {
    urls.split(',').map(redacted_url).collect::<Vec<_>>().join(",")
}

fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The credentials end at the last '@' before the path: a password may itself hold '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let hidden = match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{hidden}{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_blanked_and_the_rest_kept() {
        assert_eq!(
            redacted_urls("postgres://app:s3cret@db:5432/chat?sslmode=require"),
            "postgres://app:***@db:5432/chat?sslmode=require"
        );
        assert_eq!(redacted_urls("rediss://:pw@cache:6380"), "rediss://:***@cache:6380");
        assert_eq!(
            redacted_urls("tls://a:p@w@n1:4222, nats://n2:4222"),
            "tls://a:***@n1:4222, nats://n2:4222"
        );
    }

    #[test]
    fn a_token_in_place_of_a_user_is_blanked() {
        assert_eq!(redacted_urls("nats://t0ken@host:4222"), "nats://***@host:4222");
    }

    #[test]
    fn urls_without_credentials_are_unchanged() {
        for url in ["nats://127.0.0.1:4222", "127.0.0.1:4222", "postgres://db/chat?user=a@b", ""] {
            assert_eq!(redacted_urls(url), url);
        }
    }

    #[test]
    fn a_secret_is_hidden_from_debug_output() {
        assert_eq!(format!("{:?}", Secret::from("hunter2".to_owned())), "<redacted>");
    }
}
