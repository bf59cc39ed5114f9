//! The settings of the abuse limits and of where a client's address comes from.

use chat_shared::ports::LimitSetting;
use chat_shared::usecases::LimitSettings;
use ipnet::IpNet;

use crate::trusted_proxies::{TrustedProxies, parse_trusted_proxy};

/// Each limit is `COUNT/PERIOD` (a burst of COUNT, then COUNT per PERIOD: `10/15m`) or `off`.
#[derive(Debug, Clone, clap::Args)]
pub struct AbuseLimitArgs {
    /// Failed logins allowed per client address.
    #[arg(long, env = "CHAT_LOGIN_LIMIT_PER_IP", default_value = "20/5m")]
    pub login_limit_per_ip: LimitSetting,

    /// Failed logins allowed per username, from all addresses together.
    #[arg(long, env = "CHAT_LOGIN_LIMIT_PER_USERNAME", default_value = "10/15m")]
    pub login_limit_per_username: LimitSetting,

    /// Registrations allowed per client address.
    #[arg(long, env = "CHAT_REGISTER_LIMIT_PER_IP", default_value = "20/1h")]
    pub register_limit_per_ip: LimitSetting,

    /// Token refreshes allowed per client address.
    #[arg(long, env = "CHAT_REFRESH_LIMIT_PER_IP", default_value = "300/1m")]
    pub refresh_limit_per_ip: LimitSetting,

    /// Room creations, member changes and profile changes allowed per user.
    #[arg(long, env = "CHAT_WRITE_LIMIT_PER_USER", default_value = "60/1m")]
    pub write_limit_per_user: LimitSetting,

    /// Messages a user may send over REST (`POST /rooms/{id}/messages`).
    #[arg(long, env = "CHAT_REST_SEND_LIMIT_PER_USER", default_value = "20/1s")]
    pub rest_send_limit_per_user: LimitSetting,

    /// Searches of the user directory (`GET /users?query=`) allowed per user: enough for
    /// suggestions as someone types, not for reading the whole directory out.
    #[arg(long, env = "CHAT_SEARCH_LIMIT_PER_USER", default_value = "30/10s")]
    pub search_limit_per_user: LimitSetting,

    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers name the client, comma separated
    /// addresses or networks (`127.0.0.1,10.0.0.0/8`). Empty: the socket's peer is the client.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,
}

impl AbuseLimitArgs {
    pub fn settings(&self) -> LimitSettings {
        LimitSettings {
            login_per_client: self.login_limit_per_ip,
            login_per_username: self.login_limit_per_username,
            register_per_client: self.register_limit_per_ip,
            refresh_per_client: self.refresh_limit_per_ip,
            writes_per_user: self.write_limit_per_user,
            sends_per_user: self.rest_send_limit_per_user,
            searches_per_user: self.search_limit_per_user,
        }
    }

    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    #[test]
    fn every_limit_has_a_default_and_can_be_turned_off() {
        let on = Cli::try_parse_from(["chat-node"]).unwrap().config.limits.settings();
        assert!(on.login_per_client.quota().is_some() && on.sends_per_user.quota().is_some());
        assert!(on.searches_per_user.quota().is_some());
        let off =
            Cli::try_parse_from(["chat-node", "--login-limit-per-ip", "off", "--write-limit-per-user", "0"])
                .unwrap()
                .config
                .limits
                .settings();
        assert_eq!(off.login_per_client.quota(), None);
        assert_eq!(off.writes_per_user.quota(), None);
    }

    #[test]
    fn a_malformed_limit_or_proxy_is_refused_at_start_naming_the_flag() {
        for (flag, value) in [
            ("--login-limit-per-username", "10 per minute"),
            ("--register-limit-per-ip", "0/1h"),
            ("--rest-send-limit-per-user", "5/never"),
            ("--search-limit-per-user", "lots"),
            ("--trusted-proxies", "127.0.0.1,proxy.internal"),
        ] {
            let err = Cli::try_parse_from(["chat-node", flag, value]).unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
        }
    }
}
