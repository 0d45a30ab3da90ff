//! Wiring the queue's delivery engine: the config file's routes and
//! transports in the engine's shape, and the engine running beside the
//! listeners until shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use queue::engine::{
    Engine, EngineConfig, EngineDeps, FailTransport, Route, Routes, SmtpTransport, SocksTransport,
    Transport, TransportAuth,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::config::{self, Config};
use crate::stores::Stores;

fn route(r: &config::Route) -> Route {
    Route {
        from_domains: r.from_domain.clone(),
        to_domains: r.to_domain.clone(),
        minimum_attempts: r.minimum_attempts,
        transport: r.transport.clone(),
    }
}

fn smtp_transport(s: &config::TransportSmtp) -> SmtpTransport {
    // A bare IP in the config becomes the address literal the engine parses.
    let host = match s.host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => format!("[{ip}]"),
        Ok(std::net::IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        Err(_) => s.host.clone(),
    };
    SmtpTransport {
        host,
        port: s.port.map(|p| p.0).unwrap_or(0),
        starttls_insecure_skip_verify: s.starttls_insecure_skip_verify,
        no_starttls: s.no_starttls,
        auth: s.auth.as_ref().map(|a| TransportAuth {
            username: a.username.clone(),
            password: a.password.clone(),
            mechanisms: a
                .mechanisms
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
        }),
    }
}

/// A validated config transport in the engine's shape; `None` only for
/// values validation refuses.
pub fn transport(t: &config::Transport) -> Option<Transport> {
    if let Some(s) = &t.submissions {
        return Some(Transport::Submissions(smtp_transport(s)));
    }
    if let Some(s) = &t.submission {
        return Some(Transport::Submission(smtp_transport(s)));
    }
    if let Some(s) = &t.smtp {
        return Some(Transport::Smtp(smtp_transport(s)));
    }
    if let Some(s) = &t.socks {
        let address: SocketAddr = s.address.parse().ok()?;
        return Some(Transport::Socks(SocksTransport {
            address,
            remote_hostname: s.remote_hostname.clone(),
        }));
    }
    if let Some(d) = &t.direct {
        return Some(Transport::Direct {
            disable_ipv4: d.disable_ipv4,
            disable_ipv6: d.disable_ipv6,
        });
    }
    if let Some(f) = &t.fail {
        let default = FailTransport::default();
        return Some(Transport::Fail(FailTransport {
            code: f.smtp_code.unwrap_or(default.code),
            enhanced: default.enhanced,
            message: f.smtp_message.clone().unwrap_or(default.message),
        }));
    }
    None
}

/// The engine's settings from a validated config.
pub fn engine_config(c: &Config) -> EngineConfig {
    let mut routes = Routes {
        global: c.routes.iter().map(route).collect(),
        ..Routes::default()
    };
    for (name, a) in &c.accounts {
        if !a.routes.is_empty() {
            routes
                .account
                .insert(name.clone(), a.routes.iter().map(route).collect());
        }
    }
    for (name, d) in &c.domains {
        if !d.routes.is_empty() {
            let key = smtp::Domain::parse(name)
                .map(|d| d.unicode().to_lowercase())
                .unwrap_or_else(|_| name.to_lowercase());
            routes
                .domain
                .insert(key, d.routes.iter().map(route).collect());
        }
    }
    let mut transports: BTreeMap<String, Transport> = c
        .transports
        .iter()
        .filter_map(|(n, t)| transport(t).map(|t| (n.clone(), t)))
        .collect();
    disabled_domain_routes(c, &mut routes, &mut transports);
    let defaults = EngineConfig::default();
    let t = &c.timeouts;
    let pick = |v: Option<crate::config::values::Span>, d: std::time::Duration| {
        v.map(|s| s.0).unwrap_or(d)
    };
    let timeouts = smtpclient::Timeouts {
        greeting: pick(t.greeting, defaults.timeouts.greeting),
        mail: pick(t.mail, defaults.timeouts.mail),
        rcpt: pick(t.rcpt, defaults.timeouts.rcpt),
        data_command: pick(t.data_command, defaults.timeouts.data_command),
        data_block: pick(t.data_block, defaults.timeouts.data_block),
        data_end: pick(t.data_end, defaults.timeouts.data_end),
        tls_handshake: pick(t.tls_handshake, defaults.timeouts.tls_handshake),
        quit: defaults.timeouts.quit,
        command: pick(t.command, defaults.timeouts.command),
    };
    EngineConfig {
        node: c.queue.node.clone().unwrap_or(defaults.node.clone()),
        shutdown_grace: pick(c.queue.shutdown_grace, defaults.shutdown_grace),
        idle_timeout: pick(c.queue.idle_timeout, defaults.idle_timeout),
        timeouts,
        max_concurrent: c.queue.concurrency,
        max_per_domain: c.queue.per_domain_concurrency,
        hostname: c.hostname.clone(),
        postmaster_account: c
            .postmaster_account
            .clone()
            .or_else(|| c.accounts.keys().next().cloned())
            .unwrap_or_else(|| "postmaster".into()),
        direct_port: c
            .queue
            .direct_port
            .map(|p| p.0)
            .unwrap_or(defaults.direct_port),
        routes,
        transports,
        ..EngineConfig::default()
    }
}

/// The transport that holds back mail from a disabled domain. Its name
/// has characters a config's transport names would need quoting for.
pub const DISABLED_DOMAIN_TRANSPORT: &str = "(disabled domain)";

/// Mail queued from a domain that is now disabled is not sent: a route
/// ahead of every other one (account routes included) for each disabled
/// sender domain leads to a temporary failure, the reference's "domain of
/// sender temporarily disabled", so it goes out once the domain is enabled
/// again within the retry schedule.
fn disabled_domain_routes(
    c: &Config,
    routes: &mut Routes,
    transports: &mut BTreeMap<String, Transport>,
) {
    let disabled: Vec<String> = c
        .domains
        .iter()
        .filter(|(_, d)| d.disabled)
        .map(|(name, _)| {
            smtp::Domain::parse(name)
                .map(|d| d.unicode().to_lowercase())
                .unwrap_or_else(|_| name.to_lowercase())
        })
        .collect();
    if disabled.is_empty() {
        return;
    }
    transports.insert(
        DISABLED_DOMAIN_TRANSPORT.to_string(),
        Transport::Fail(FailTransport {
            code: 451,
            enhanced: (3, 0),
            message: "domain of sender temporarily disabled".into(),
        }),
    );
    let first = Route {
        from_domains: disabled.clone(),
        ..Route::to(DISABLED_DOMAIN_TRANSPORT)
    };
    for list in routes.account.values_mut() {
        list.insert(0, first.clone());
    }
    for domain in disabled {
        routes
            .domain
            .entry(domain)
            .or_default()
            .insert(0, first.clone());
    }
}

/// The resolver of the config's `resolvers`, else the system's.
pub fn config_resolver(c: &Config) -> Arc<dyn dns::Resolver> {
    let servers: Vec<SocketAddr> = c
        .resolvers
        .iter()
        .filter_map(|r| config::parse_resolver(r))
        .collect();
    if servers.is_empty() {
        system_resolver()
    } else {
        Arc::new(dns::StubResolver::new(servers))
    }
}

/// The localserve engine: every message goes to the local listener.
pub fn localserve_config(local: SocketAddr, postmaster: &str) -> EngineConfig {
    let mut transports = BTreeMap::new();
    transports.insert(
        "localserve".to_string(),
        Transport::Localserve { address: local },
    );
    EngineConfig {
        hostname: "localhost".into(),
        postmaster_account: postmaster.into(),
        routes: Routes {
            global: vec![Route::to("localserve")],
            ..Routes::default()
        },
        transports,
        ..EngineConfig::default()
    }
}

/// Starts the engine on the stores: it runs until `shutdown` turns true,
/// and every notification of `kick` (from the submission handler) wakes it.
pub fn spawn(
    config: EngineConfig,
    stores: &Stores,
    resolver: Arc<dyn dns::Resolver>,
    kick: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let deps = EngineDeps::new(stores.queue.clone(), stores.mailbox.clone(), resolver);
    let engine = Engine::new(config, deps);
    let kicker = engine.clone();
    let mut stop_kicks = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = kick.notified() => kicker.kick(),
                _ = stop_kicks.wait_for(|s| *s) => break,
            }
        }
    });
    info!(target: "postel", "delivery engine started");
    tokio::spawn(async move {
        let mut rx = shutdown;
        let stop = async move {
            if rx.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        match engine.run(stop).await {
            Ok(()) => info!(target: "postel", "delivery engine stopped"),
            Err(e) => error!(target: "postel", error = %e, "delivery engine failed"),
        }
    })
}

/// The system's recursive resolvers from /etc/resolv.conf (127.0.0.1 when
/// none are listed).
pub fn system_resolver() -> Arc<dyn dns::Resolver> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers = dns::parse_resolv_conf(&text);
    if servers.is_empty() {
        servers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
    }
    Arc::new(dns::StubResolver::new(servers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_routes_and_transports_become_the_engines() {
        let c = Config::parse(
            "postel.example.toml",
            include_str!("../postel.example.toml"),
        )
        .unwrap();
        let e = engine_config(&c);
        assert_eq!(e.hostname, "mail.example.org");
        assert_eq!(e.postmaster_account, "app");
        assert_eq!(e.max_concurrent, 10);
        assert_eq!(e.max_per_domain, 1);
        assert_eq!(e.node, "node1");
        assert_eq!(e.timeouts.data_end, std::time::Duration::from_secs(600));
        assert_eq!(e.timeouts.tls_handshake, std::time::Duration::from_secs(60));
        assert_eq!(
            e.routes.global,
            vec![Route {
                from_domains: vec![],
                to_domains: vec!["example.com".into()],
                minimum_attempts: 0,
                transport: "relay".into(),
            }]
        );
        assert_eq!(
            e.routes.domain["example.org"],
            vec![Route {
                to_domains: vec![".example.net".into()],
                ..Route::to("relay")
            }]
        );
        assert_eq!(
            e.transports["relay"],
            Transport::Submission(SmtpTransport {
                host: "smtp.example.net".into(),
                port: 587,
                starttls_insecure_skip_verify: false,
                no_starttls: false,
                auth: Some(TransportAuth {
                    username: "user".into(),
                    password: "secret".into(),
                    mechanisms: vec!["SCRAM-SHA-256".into()],
                }),
            })
        );
        assert_eq!(
            e.transports["ipv4only"],
            Transport::Direct {
                disable_ipv4: false,
                disable_ipv6: true
            }
        );
        assert_eq!(
            e.transports["proxy"],
            Transport::Socks(SocksTransport {
                address: "192.0.2.10:1080".parse().unwrap(),
                remote_hostname: "proxy.example.org".into(),
            })
        );
        assert_eq!(
            e.transports["reject"],
            Transport::Fail(FailTransport {
                code: 554,
                enhanced: (7, 0),
                message: "sending to this domain is disabled".into(),
            })
        );
    }

    #[test]
    fn mail_from_a_disabled_domain_goes_to_a_temporary_failure_before_any_other_route() {
        let c = Config::parse(
            "postel.toml",
            "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/postel\"\n\
             [domains.\"Example.org\"]\ndisabled = true\nroutes = [{ transport = \"relay\" }]\n\
             [domains.\"example.net\"]\n\
             [accounts.app]\naddresses = [\"app@example.org\"]\nroutes = [{ transport = \"relay\" }]\n\
             [transports.relay.direct]\n",
        )
        .unwrap();
        let e = engine_config(&c);
        let first = Route {
            from_domains: vec!["example.org".into()],
            ..Route::to(DISABLED_DOMAIN_TRANSPORT)
        };
        assert_eq!(
            e.routes.account["app"],
            vec![first.clone(), Route::to("relay")]
        );
        assert_eq!(
            e.routes.domain["example.org"],
            vec![first, Route::to("relay")]
        );
        assert!(!e.routes.domain.contains_key("example.net"));
        assert_eq!(
            e.transports[DISABLED_DOMAIN_TRANSPORT],
            Transport::Fail(FailTransport {
                code: 451,
                enhanced: (3, 0),
                message: "domain of sender temporarily disabled".into(),
            })
        );
        let plain = Config::parse(
            "postel.toml",
            "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/postel\"\n[domains.\"example.org\"]\n",
        )
        .unwrap();
        assert!(
            !engine_config(&plain)
                .transports
                .contains_key(DISABLED_DOMAIN_TRANSPORT)
        );
    }

    #[test]
    fn bare_ip_smarthost_becomes_an_address_literal() {
        let t = config::TransportSmtp {
            host: "127.0.0.1".into(),
            port: None,
            starttls_insecure_skip_verify: false,
            no_starttls: true,
            auth: None,
        };
        assert_eq!(smtp_transport(&t).host, "[127.0.0.1]");
        assert_eq!(smtp_transport(&t).port, 0);
    }

    #[test]
    fn direct_port_defaults_to_25_and_can_be_set_for_tests() {
        let head = "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/postel\"\n";
        let c = Config::parse("postel.toml", head).unwrap();
        assert_eq!(engine_config(&c).direct_port, 25);
        let c = Config::parse(
            "postel.toml",
            &format!("{head}[queue]\ndirect_port = 2525\n"),
        )
        .unwrap();
        assert_eq!(engine_config(&c).direct_port, 2525);
    }
}
