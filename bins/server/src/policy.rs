//! Per-account submission policy resolved from the config: separators,
//! fromid logins, daily limits, retention, trusted networks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::config::values::Cidr;
use crate::config::{Config, base_of};

/// The reference's default MaxOutgoingMessagesPerDay.
pub const DEFAULT_MESSAGES_PER_DAY: u64 = 1000;
/// The reference's default MaxFirstTimeRecipientsPerDay.
pub const DEFAULT_FIRST_TIME_PER_DAY: u64 = 200;
/// Retention of retired messages unless configured.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What applies to one account's submissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPolicy {
    /// Catchall separator.
    pub separator: Option<char>,
    /// Logins (base addresses, lowercase) that turn on fromid mode.
    pub fromid_logins: Vec<String>,
    /// Messages (recipients) per 24 h; 0 = unlimited.
    pub messages_per_day: u64,
    /// First-time recipients per 24 h; 0 = unlimited.
    pub first_time_per_day: u64,
    /// History retention.
    pub retention: Duration,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        AccountPolicy {
            separator: None,
            fromid_logins: Vec::new(),
            messages_per_day: DEFAULT_MESSAGES_PER_DAY,
            first_time_per_day: DEFAULT_FIRST_TIME_PER_DAY,
            retention: DEFAULT_RETENTION,
        }
    }
}

impl AccountPolicy {
    /// Whether logging in as `login` turns on fromid mode.
    pub fn fromid_mode(&self, login: Option<&str>) -> bool {
        let (Some(login), Some(sep)) = (login, self.separator) else {
            return false;
        };
        let base = base_of(&login.to_lowercase(), sep);
        self.fromid_logins.contains(&base)
    }
}

/// Policy for all accounts plus trusted networks.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Configured accounts; others get [`Policy::default_account`].
    pub accounts: BTreeMap<String, AccountPolicy>,
    /// For accounts that exist only in the mailbox store.
    pub default_account: AccountPolicy,
    /// Networks mapped to accounts, first match wins.
    pub trusted: Vec<(Cidr, String)>,
    /// Attempts per message (0: the queue default).
    pub max_attempts: u32,
    /// Domains configured `disabled` (ASCII, lower case).
    pub disabled_domains: BTreeSet<String>,
}

impl Policy {
    /// From a validated config.
    pub fn from_config(c: &Config) -> Policy {
        let accounts = c
            .accounts
            .iter()
            .map(|(name, a)| {
                let separator = c.separator(name);
                let fromid_logins = a
                    .fromid_login_addresses
                    .iter()
                    .map(|l| base_of(&l.to_lowercase(), separator.unwrap_or('+')))
                    .collect();
                (
                    name.clone(),
                    AccountPolicy {
                        separator,
                        fromid_logins,
                        messages_per_day: a
                            .max_outgoing_messages_per_day
                            .unwrap_or(DEFAULT_MESSAGES_PER_DAY),
                        first_time_per_day: a
                            .max_first_time_recipients_per_day
                            .unwrap_or(DEFAULT_FIRST_TIME_PER_DAY),
                        retention: a.retention.map(|s| s.0).unwrap_or(DEFAULT_RETENTION),
                    },
                )
            })
            .collect();
        let trusted = c
            .trusted_networks
            .iter()
            .filter_map(|t| Cidr::parse(&t.network).map(|n| (n, t.account.clone())))
            .collect();
        let disabled_domains = c
            .domains
            .iter()
            .filter(|(_, d)| d.disabled)
            .map(|(name, _)| domain_key(name))
            .collect();
        Policy {
            accounts,
            default_account: AccountPolicy::default(),
            trusted,
            max_attempts: c.queue.max_attempts,
            disabled_domains,
        }
    }

    /// Whether `domain` (any case, ASCII or Unicode) is configured
    /// disabled.
    pub fn domain_disabled(&self, domain: &str) -> bool {
        !self.disabled_domains.is_empty() && self.disabled_domains.contains(&domain_key(domain))
    }

    /// The policy of an account.
    pub fn account(&self, name: &str) -> &AccountPolicy {
        self.accounts.get(name).unwrap_or(&self.default_account)
    }

    /// The account a trusted network maps `ip` to.
    pub fn trusted_account(&self, ip: IpAddr) -> Option<&str> {
        self.trusted
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, a)| a.as_str())
    }

    /// Retention per account, for the queue store.
    pub fn retention(&self) -> queue::Retention {
        queue::Retention {
            default: self.default_account.retention,
            accounts: self
                .accounts
                .iter()
                .map(|(n, a)| (n.clone(), a.retention))
                .collect(),
        }
    }

    /// The catchall separator shared by the accounts, for the mailbox store
    /// (which knows one): the first configured one.
    pub fn common_separator(&self) -> Option<char> {
        self.accounts.values().find_map(|a| a.separator)
    }
}

/// A domain name as [`Policy::disabled_domains`] holds it: its ASCII
/// form in lower case (the name itself when it does not parse).
fn domain_key(name: &str) -> String {
    match smtp::Domain::parse(name) {
        Ok(d) => d.ascii().to_ascii_lowercase(),
        Err(_) => name.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn fromid_mode_follows_the_login_including_catchall_variants() {
        let c = Config::parse(
            "postel.example.toml",
            include_str!("../postel.example.toml"),
        )
        .unwrap();
        let p = Policy::from_config(&c);
        let app = p.account("app");
        assert_eq!(app.separator, Some('+'));
        assert!(app.fromid_mode(Some("app@example.org")));
        assert!(app.fromid_mode(Some("App+tag@Example.org")));
        assert!(!app.fromid_mode(Some("other@example.org")));
        assert!(!app.fromid_mode(None), "trusted networks have no login");
        assert_eq!(app.retention, DEFAULT_RETENTION);
        assert_eq!(app.messages_per_day, 1000);
        assert_eq!(app.first_time_per_day, 200);
        assert_eq!(p.trusted_account("10.1.2.3".parse().unwrap()), Some("app"));
        assert_eq!(p.trusted_account("192.0.2.1".parse().unwrap()), None);
        assert_eq!(p.account("unknown"), &AccountPolicy::default());
    }
}
