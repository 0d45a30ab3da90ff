//! Finding where to deliver: MX targets, IP addresses and TLSA records.
//!
//! Each step reports whether its DNS answers were DNSSEC-authentic, because
//! DANE (RFC 7672) applies only to hosts found through authentic answers.
//!
//! ```
//! use dns::MemoryResolver;
//! use smtpclient::dial::DialedIps;
//! use smtpclient::gather::{gather_destinations, gather_ips};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let zone = MemoryResolver::new()
//!     .mx("example.com", 10, "mx.example.com")
//!     .a("mx.example.com", "192.0.2.1".parse().unwrap())
//!     .all_authentic();
//! let domain: smtp::Domain = "example.com".parse().unwrap();
//! let dest = gather_destinations(&zone, &domain).await.unwrap();
//! assert_eq!(dest.hosts, vec!["mx.example.com".parse::<smtp::Host>().unwrap()]);
//! let ips = gather_ips(&zone, &dest.hosts[0], &DialedIps::new()).await.unwrap();
//! assert_eq!(ips.ips, vec!["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
//! assert!(ips.authentic);
//! # });
//! ```

use std::collections::HashSet;
use std::net::IpAddr;

use dns::{LookupError, MAX_CNAME_CHAIN, Mx, Resolver, Tlsa};
use smtp::{Domain, Host};

use crate::dial::DialedIps;

/// Where mail for a domain goes: the hosts to try, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destinations {
    /// MX targets by preference (equal preferences shuffled), or the domain
    /// itself when it has no MX records.
    pub hosts: Vec<Host>,
    /// True when there were no MX records and the domain itself is the
    /// destination (RFC 5321 §5.1).
    pub implicit_mx: bool,
    /// The domain after following CNAMEs; MX records were looked up here.
    pub expanded_domain: Domain,
    /// Whether the answers for the recipient domain itself were authentic.
    pub original_authentic: bool,
    /// Whether every answer, through all CNAMEs, was authentic. DANE needs
    /// this and `original_authentic` both.
    pub expanded_authentic: bool,
}

/// The addresses of one host, ordered for dialing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatheredIps {
    /// IPv4 before IPv6 from DNS, then reordered by earlier attempts.
    pub ips: Vec<IpAddr>,
    /// Whether the answers for the host name itself were authentic.
    pub authentic: bool,
    /// Whether every answer, through all CNAMEs, was authentic.
    pub expanded_authentic: bool,
    /// The host name after following CNAMEs; `None` for an IP literal.
    pub expanded_host: Option<Domain>,
    /// The host has both IPv4 and IPv6 addresses.
    pub dual_stack: bool,
}

/// The TLSA records at a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatheredTlsa {
    /// The TLSA owner name asked for, e.g. `_25._tcp.mx.example.com`.
    pub name: String,
    /// The records; empty when the host has none (it did not opt in to DANE).
    pub records: Vec<Tlsa>,
    /// Whether the answer (or the denial) was DNSSEC-authentic. Records from
    /// an insecure answer must not be used for DANE.
    pub authentic: bool,
}

/// Why destinations, IPs or TLSA records could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatherError {
    /// The recipient domain does not exist.
    #[error("recipient domain {domain} does not exist (nxdomain)")]
    NoSuchDomain {
        /// The domain (after CNAMEs).
        domain: String,
    },
    /// A null MX (RFC 7505): the domain accepts no mail.
    #[error("recipient domain {domain} does not accept mail (null mx)")]
    NullMx {
        /// The domain (after CNAMEs).
        domain: String,
    },
    /// None of the MX targets is a valid host name.
    #[error("recipient domain {domain} has only invalid mx hosts: {}", .hosts.join(", "))]
    InvalidMxHosts {
        /// The domain (after CNAMEs).
        domain: String,
        /// The unusable targets.
        hosts: Vec<String>,
    },
    /// A CNAME points to a name seen before.
    #[error("cname loop for {name} at {at}")]
    CnameLoop {
        /// The name looked up.
        name: String,
        /// The name seen twice.
        at: String,
    },
    /// More than [`MAX_CNAME_CHAIN`] CNAMEs.
    #[error("more than {MAX_CNAME_CHAIN} cnames for {name}")]
    CnameChainTooLong {
        /// The name looked up.
        name: String,
    },
    /// A CNAME target is not a valid domain.
    #[error("cname of {name} points to invalid domain {target:?}")]
    InvalidCnameTarget {
        /// The name whose CNAME is bad.
        name: String,
        /// The target.
        target: String,
    },
    /// The host has no IPv4 or IPv6 address.
    #[error("host {host} has no ip addresses: {reason}")]
    NoAddresses {
        /// The host name.
        host: String,
        /// The DNS results.
        reason: String,
    },
    /// A DNS lookup failed (temporary failure or unusable name).
    #[error("dns lookup failed: {0}")]
    Dns(#[from] LookupError),
}

impl GatherError {
    /// Whether delivery to this destination can never succeed, so retrying
    /// is pointless: a missing domain, a null MX, only invalid MX hosts.
    /// Everything else may be a passing DNS problem.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::NoSuchDomain { .. } | Self::NullMx { .. } | Self::InvalidMxHosts { .. }
        )
    }
}

/// Like [`gather_destinations_seeded`], with a random seed for shuffling
/// equal-preference MX hosts.
pub async fn gather_destinations(
    resolver: &dyn Resolver,
    domain: &Domain,
) -> Result<Destinations, GatherError> {
    // Without system randomness the order of equal preferences is merely
    // fixed, which is still correct.
    let seed = getrandom::u64().unwrap_or(0);
    gather_destinations_seeded(resolver, domain, seed).await
}

/// Finds the hosts that receive mail for `domain` (RFC 5321 §5.1): follows
/// CNAMEs of the domain, then looks up MX records of the expanded name.
///
/// - NXDOMAIN: [`GatherError::NoSuchDomain`] (permanent).
/// - No MX records: the domain itself (`implicit_mx`).
/// - A single null MX ("."): [`GatherError::NullMx`] (permanent).
/// - Otherwise the MX targets by preference, equal preferences in an order
///   shuffled with `seed` (load balancing, RFC 5321 §5.1).
/// - DNS failures and CNAME loops are temporary.
pub async fn gather_destinations_seeded(
    resolver: &dyn Resolver,
    domain: &Domain,
    seed: u64,
) -> Result<Destinations, GatherError> {
    let expanded = follow_cnames(resolver, domain).await?;
    let expanded_name = expanded.domain.ascii().to_owned();
    let mx = resolver.lookup_mx(&expanded_name).await;
    let mx_authentic = match &mx {
        Ok(answer) => answer.authentic,
        Err(e) => e.authentic().unwrap_or(false),
    };
    let original_authentic = expanded.first_authentic && (expanded.hops > 0 || mx_authentic);
    let expanded_authentic = expanded.all_authentic && mx_authentic;
    let done = |hosts, implicit_mx| Destinations {
        hosts,
        implicit_mx,
        expanded_domain: expanded.domain.clone(),
        original_authentic,
        expanded_authentic,
    };
    let records = match mx {
        Ok(answer) => answer.records,
        Err(LookupError::NxDomain { .. }) => {
            return Err(GatherError::NoSuchDomain {
                domain: expanded_name,
            });
        }
        Err(LookupError::NoRecords { .. }) => {
            return Ok(done(vec![Host::Domain(expanded.domain.clone())], true));
        }
        Err(e) => return Err(e.into()),
    };
    if let [only] = records.as_slice()
        && only.is_null()
    {
        return Err(GatherError::NullMx {
            domain: expanded_name,
        });
    }
    let mut usable = Vec::with_capacity(records.len());
    let mut invalid = Vec::new();
    for mx in order_mx(records, seed) {
        // A null MX beside real ones is a misconfiguration; the real ones
        // are still worth trying.
        if mx.is_null() {
            continue;
        }
        match Domain::parse(&mx.exchange) {
            Ok(host) => usable.push(Host::Domain(host)),
            Err(e) => {
                tracing::info!(target: "smtpclient", domain = %expanded_name, exchange = %mx.exchange, error = %e, "skipping invalid mx host");
                invalid.push(mx.exchange);
            }
        }
    }
    if usable.is_empty() {
        return Err(GatherError::InvalidMxHosts {
            domain: expanded_name,
            hosts: invalid,
        });
    }
    Ok(done(usable, false))
}

/// Sorts by preference and shuffles each run of equal preference.
fn order_mx(mut records: Vec<Mx>, seed: u64) -> Vec<Mx> {
    let mut rng = SplitMix64(seed);
    records.sort_by_key(|mx| mx.preference);
    let mut start = 0;
    while start < records.len() {
        let pref = records.get(start).map(|mx| mx.preference);
        let end = records
            .iter()
            .skip(start)
            .position(|mx| Some(mx.preference) != pref)
            .map_or(records.len(), |n| start + n);
        if let Some(run) = records.get_mut(start..end) {
            // Fisher-Yates.
            for i in (1..run.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                run.swap(i, j);
            }
        }
        start = end;
    }
    records
}

/// A tiny deterministic generator; shuffling MX hosts needs spread, not
/// unpredictability.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The result of following a CNAME chain.
struct Expanded {
    domain: Domain,
    /// Number of CNAMEs followed.
    hops: usize,
    /// The CNAME answer for the first name was authentic.
    first_authentic: bool,
    /// Every CNAME answer was authentic.
    all_authentic: bool,
}

/// Follows CNAMEs from `start` with explicit CNAME queries, so the caller
/// learns the final name and which hops were authentic.
async fn follow_cnames(resolver: &dyn Resolver, start: &Domain) -> Result<Expanded, GatherError> {
    let mut current = start.clone();
    let mut seen = HashSet::new();
    let mut first_authentic = true;
    let mut all_authentic = true;
    for hops in 0..=MAX_CNAME_CHAIN {
        if !seen.insert(current.ascii().to_owned()) {
            return Err(GatherError::CnameLoop {
                name: start.ascii().to_owned(),
                at: current.ascii().to_owned(),
            });
        }
        let (target, authentic) = match resolver.lookup_cname(current.ascii()).await {
            Ok(answer) => (answer.records.into_iter().next(), answer.authentic),
            Err(e) if e.is_not_found() => (None, e.authentic().unwrap_or(false)),
            Err(e) => return Err(e.into()),
        };
        if hops == 0 {
            first_authentic = authentic;
        }
        all_authentic &= authentic;
        let Some(target) = target.filter(|t| t != current.ascii()) else {
            return Ok(Expanded {
                domain: current,
                hops,
                first_authentic,
                all_authentic,
            });
        };
        if hops == MAX_CNAME_CHAIN {
            break;
        }
        current = Domain::parse(&target).map_err(|_| GatherError::InvalidCnameTarget {
            name: current.ascii().to_owned(),
            target: target.clone(),
        })?;
    }
    Err(GatherError::CnameChainTooLong {
        name: start.ascii().to_owned(),
    })
}

/// Looks up the IPs of `host` (A and AAAA, CNAMEs followed) and orders them
/// for this attempt, using the IPs of earlier successful attempts in
/// `dialed`:
///
/// - the address family used last time goes last, so a host whose IPv4
///   address is blocklisted is tried over IPv6 next time (and vice versa);
/// - on the second attempt in a family, the IP used before comes first in
///   that family, since greylisting servers remember the client IP.
///
/// An IP literal is returned as is. A host without addresses gives
/// [`GatherError::NoAddresses`]; if one family fails temporarily and the
/// other has addresses, those are used (and the result is not authentic).
pub async fn gather_ips(
    resolver: &dyn Resolver,
    host: &Host,
    dialed: &DialedIps,
) -> Result<GatheredIps, GatherError> {
    let domain = match host {
        Host::Ip(ip) => {
            return Ok(GatheredIps {
                ips: vec![*ip],
                authentic: false,
                expanded_authentic: false,
                expanded_host: None,
                dual_stack: false,
            });
        }
        Host::Domain(domain) => domain,
    };
    let expanded = follow_cnames(resolver, domain).await?;
    let name = expanded.domain.ascii();
    let (v4, v6) = tokio::join!(resolver.lookup_a(name), resolver.lookup_aaaa(name));
    let answer_authentic = |auth: Option<bool>| auth.unwrap_or(false);
    let v4_authentic = answer_authentic(match &v4 {
        Ok(a) => Some(a.authentic),
        Err(e) => e.authentic(),
    });
    let v6_authentic = answer_authentic(match &v6 {
        Ok(a) => Some(a.authentic),
        Err(e) => e.authentic(),
    });
    let lookups_authentic = v4_authentic && v6_authentic;
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut problems = Vec::new();
    match v4 {
        Ok(answer) => ips.extend(answer.records.into_iter().map(IpAddr::V4)),
        Err(e) => problems.push(e),
    }
    match v6 {
        Ok(answer) => ips.extend(answer.records.into_iter().map(IpAddr::V6)),
        Err(e) => problems.push(e),
    }
    let dual_stack = ips.iter().any(IpAddr::is_ipv4) && ips.iter().any(IpAddr::is_ipv6);
    if ips.is_empty() {
        if let Some(temp) = problems.iter().find(|e| e.is_temporary()) {
            return Err(GatherError::Dns(temp.clone()));
        }
        return Err(GatherError::NoAddresses {
            host: expanded.domain.ascii().to_owned(),
            reason: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    for problem in &problems {
        if problem.is_temporary() {
            tracing::info!(target: "smtpclient", %host, error = %problem, "using addresses of one family only");
        }
    }
    order_ips(&mut ips, dialed.get(host));
    Ok(GatheredIps {
        ips,
        authentic: expanded.first_authentic && lookups_authentic,
        expanded_authentic: expanded.all_authentic && lookups_authentic,
        expanded_host: Some(expanded.domain),
        dual_stack,
    })
}

/// Reorders `ips` (stable) by the previous successful attempts.
fn order_ips(ips: &mut [IpAddr], previous: &[IpAddr]) {
    let Some(&last) = previous.last() else { return };
    let same_family_before = previous
        .iter()
        .filter(|ip| ip.is_ipv4() == last.is_ipv4())
        .count();
    let prefer_last = same_family_before == 1;
    ips.sort_by_key(|ip| {
        let same_family = ip.is_ipv4() == last.is_ipv4();
        let is_preferred = prefer_last && *ip == last;
        (same_family, !is_preferred)
    });
}

/// Looks up the TLSA records of `_PORT._tcp.HOST` (RFC 6698 §3). CNAMEs at
/// that name are followed by the resolver and the answer is authentic only
/// if every hop was. No records (NXDOMAIN or NODATA) is `Ok` with empty
/// `records`: the host did not opt in to DANE. Temporary failures are
/// errors; with DANE they must not be treated as "no TLSA" (RFC 7672 §2.2).
pub async fn gather_tlsa(
    resolver: &dyn Resolver,
    host: &Domain,
    port: u16,
) -> Result<GatheredTlsa, GatherError> {
    let name = format!("_{port}._tcp.{}", host.ascii());
    match resolver.lookup_tlsa(&name).await {
        Ok(answer) => Ok(GatheredTlsa {
            name,
            records: answer.records,
            authentic: answer.authentic,
        }),
        Err(e) if e.is_not_found() => Ok(GatheredTlsa {
            name,
            records: Vec::new(),
            authentic: e.authentic().unwrap_or(false),
        }),
        Err(e) => Err(e.into()),
    }
}

/// TLSA records for an MX host whose address lookup followed CNAMEs
/// (RFC 7672 §2.2.2): when the expansion was authentic, the records at the
/// expanded name are used if any, else those at the original name. Returns
/// the records and the TLSA base domain (the name the server certificate
/// must match for DANE-TA).
pub async fn gather_tlsa_for_host(
    resolver: &dyn Resolver,
    host: &Domain,
    ips: &GatheredIps,
    port: u16,
) -> Result<(GatheredTlsa, Domain), GatherError> {
    if let Some(expanded) = &ips.expanded_host
        && expanded != host
        && ips.expanded_authentic
    {
        let at_expanded = gather_tlsa(resolver, expanded, port).await?;
        if !at_expanded.records.is_empty() {
            return Ok((at_expanded, expanded.clone()));
        }
    }
    let at_host = gather_tlsa(resolver, host, port).await?;
    Ok((at_host, host.clone()))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use dns::MemoryResolver;

    use super::*;

    fn d(s: &str) -> Domain {
        s.parse().unwrap()
    }

    fn h(s: &str) -> Host {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hosts(dest: &Destinations) -> Vec<String> {
        dest.hosts.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn mx_hosts_sorted_by_preference_with_equal_ones_shuffled() {
        let zone = MemoryResolver::new()
            .mx("example.com", 20, "late.example.com")
            .mx("example.com", 10, "a.example.com")
            .mx("example.com", 10, "b.example.com")
            .mx("example.com", 10, "c.example.com")
            .mx("example.com", 5, "first.example.com");
        let mut firsts = HashSet::new();
        for seed in 0..32 {
            let dest = gather_destinations_seeded(&zone, &d("example.com"), seed)
                .await
                .unwrap();
            let got = hosts(&dest);
            assert_eq!(got.len(), 5);
            assert_eq!(got[0], "first.example.com");
            assert_eq!(got[4], "late.example.com");
            let mut middle = got[1..4].to_vec();
            firsts.insert(middle[0].clone());
            middle.sort();
            assert_eq!(middle, ["a.example.com", "b.example.com", "c.example.com"]);
            assert!(!dest.implicit_mx);
        }
        // Every equal-preference host gets to go first for some seed.
        assert_eq!(firsts.len(), 3);
        // The same seed gives the same order.
        let one = gather_destinations_seeded(&zone, &d("example.com"), 7)
            .await
            .unwrap();
        let two = gather_destinations_seeded(&zone, &d("example.com"), 7)
            .await
            .unwrap();
        assert_eq!(one, two);
    }

    #[tokio::test]
    async fn domain_without_mx_is_its_own_destination() {
        let zone = MemoryResolver::new()
            .a("example.com", Ipv4Addr::new(192, 0, 2, 1))
            .all_authentic();
        let dest = gather_destinations(&zone, &d("example.com")).await.unwrap();
        assert_eq!(
            dest,
            Destinations {
                hosts: vec![h("example.com")],
                implicit_mx: true,
                expanded_domain: d("example.com"),
                original_authentic: true,
                expanded_authentic: true,
            }
        );
    }

    #[tokio::test]
    async fn nxdomain_is_permanent() {
        let zone = MemoryResolver::new();
        let err = gather_destinations(&zone, &d("nowhere.example"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GatherError::NoSuchDomain {
                domain: "nowhere.example".into()
            }
        );
        assert!(err.is_permanent());
        assert_eq!(
            err.to_string(),
            "recipient domain nowhere.example does not exist (nxdomain)"
        );
    }

    #[tokio::test]
    async fn null_mx_is_permanent() {
        let zone = MemoryResolver::new().mx("example.com", 0, ".");
        let err = gather_destinations(&zone, &d("example.com"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GatherError::NullMx {
                domain: "example.com".into()
            }
        );
        assert!(err.is_permanent());
    }

    #[tokio::test]
    async fn null_mx_beside_real_mx_is_skipped() {
        let zone =
            MemoryResolver::new()
                .mx("example.com", 0, ".")
                .mx("example.com", 10, "mx.example.com");
        let dest = gather_destinations(&zone, &d("example.com")).await.unwrap();
        assert_eq!(hosts(&dest), ["mx.example.com"]);
    }

    #[tokio::test]
    async fn invalid_mx_hosts_are_skipped_and_only_invalid_is_permanent() {
        let zone = MemoryResolver::new()
            .mx("mixed.example", 10, "bad_host.example")
            .mx("mixed.example", 20, "good.example")
            .mx("bad.example", 10, "bad_host.example");
        let dest = gather_destinations(&zone, &d("mixed.example"))
            .await
            .unwrap();
        assert_eq!(hosts(&dest), ["good.example"]);
        let err = gather_destinations(&zone, &d("bad.example"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GatherError::InvalidMxHosts {
                domain: "bad.example".into(),
                hosts: vec!["bad_host.example".into()]
            }
        );
        assert!(err.is_permanent());
    }

    #[tokio::test]
    async fn cname_is_followed_before_mx_lookup_with_authentic_flags() {
        let zone = MemoryResolver::new()
            .cname("example.com", "mail.example.net")
            .mx("mail.example.net", 10, "mx.example.net")
            .authentic("example.com");
        let dest = gather_destinations(&zone, &d("example.com")).await.unwrap();
        assert_eq!(hosts(&dest), ["mx.example.net"]);
        assert_eq!(dest.expanded_domain, d("mail.example.net"));
        assert!(dest.original_authentic);
        assert!(!dest.expanded_authentic);
    }

    #[tokio::test]
    async fn cname_to_domain_without_mx_gives_expanded_domain_as_host() {
        let zone = MemoryResolver::new()
            .cname("example.com", "mail.example.net")
            .a("mail.example.net", Ipv4Addr::new(192, 0, 2, 1));
        let dest = gather_destinations(&zone, &d("example.com")).await.unwrap();
        assert_eq!(hosts(&dest), ["mail.example.net"]);
        assert!(dest.implicit_mx);
    }

    #[tokio::test]
    async fn cname_loop_is_temporary() {
        let zone = MemoryResolver::new()
            .cname("a.example", "b.example")
            .cname("b.example", "a.example");
        let err = gather_destinations(&zone, &d("a.example"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GatherError::CnameLoop {
                name: "a.example".into(),
                at: "a.example".into()
            }
        );
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn cname_chain_over_limit_is_temporary() {
        let mut zone = MemoryResolver::new();
        for i in 0..=MAX_CNAME_CHAIN {
            zone = zone.cname(&format!("c{i}.example"), &format!("c{}.example", i + 1));
        }
        zone = zone.a("c17.example", Ipv4Addr::LOCALHOST);
        let err = gather_destinations(&zone, &d("c0.example"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GatherError::CnameChainTooLong {
                name: "c0.example".into()
            }
        );
        assert!(!err.is_permanent());
        // Exactly the limit is fine.
        let ok = gather_destinations(&zone, &d("c1.example")).await.unwrap();
        assert_eq!(ok.expanded_domain, d("c17.example"));
    }

    #[tokio::test]
    async fn dns_failure_is_temporary() {
        let zone = MemoryResolver::new().temporary_failure("example.com");
        let err = gather_destinations(&zone, &d("example.com"))
            .await
            .unwrap_err();
        assert!(matches!(&err, GatherError::Dns(e) if e.is_temporary()));
        assert!(!err.is_permanent());
    }

    fn dual_zone() -> MemoryResolver {
        MemoryResolver::new()
            .a("mx.example.com", Ipv4Addr::new(192, 0, 2, 1))
            .a("mx.example.com", Ipv4Addr::new(192, 0, 2, 2))
            .aaaa("mx.example.com", "2001:db8::1".parse().unwrap())
            .aaaa("mx.example.com", "2001:db8::2".parse().unwrap())
            .all_authentic()
    }

    #[tokio::test]
    async fn first_attempt_lists_ipv4_then_ipv6() {
        let got = gather_ips(&dual_zone(), &h("mx.example.com"), &DialedIps::new())
            .await
            .unwrap();
        assert_eq!(
            got,
            GatheredIps {
                ips: vec![
                    ip("192.0.2.1"),
                    ip("192.0.2.2"),
                    ip("2001:db8::1"),
                    ip("2001:db8::2")
                ],
                authentic: true,
                expanded_authentic: true,
                expanded_host: Some(d("mx.example.com")),
                dual_stack: true,
            }
        );
    }

    #[tokio::test]
    async fn after_ipv4_attempt_ipv6_goes_first_and_same_ipv4_is_preferred() {
        let host = h("mx.example.com");
        let mut dialed = DialedIps::new();
        dialed.record(&host, ip("192.0.2.2"));
        let got = gather_ips(&dual_zone(), &host, &dialed).await.unwrap();
        assert_eq!(
            got.ips,
            [
                ip("2001:db8::1"),
                ip("2001:db8::2"),
                ip("192.0.2.2"),
                ip("192.0.2.1")
            ]
        );
    }

    #[test]
    fn ip_order_follows_previous_attempts() {
        let dns_order = [
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            ip("2001:db8::1"),
            ip("2001:db8::2"),
        ];
        let order = |previous: &[IpAddr]| {
            let mut ips = dns_order;
            order_ips(&mut ips, previous);
            ips.to_vec()
        };
        // Last attempt IPv6, first IPv6 attempt: IPv4 first; the IPv6 used
        // is preferred within IPv6.
        assert_eq!(
            order(&[ip("192.0.2.2"), ip("2001:db8::2")]),
            [
                ip("192.0.2.1"),
                ip("192.0.2.2"),
                ip("2001:db8::2"),
                ip("2001:db8::1")
            ]
        );
        // Two IPv4 attempts before: no preference for the last IP any more.
        assert_eq!(
            order(&[ip("192.0.2.2"), ip("192.0.2.2")]),
            [
                ip("2001:db8::1"),
                ip("2001:db8::2"),
                ip("192.0.2.1"),
                ip("192.0.2.2")
            ]
        );
        assert_eq!(order(&[]), dns_order);
    }

    #[tokio::test]
    async fn ip_literal_host_is_returned_as_is() {
        let host = Host::Ip(ip("192.0.2.9"));
        let got = gather_ips(&MemoryResolver::new(), &host, &DialedIps::new())
            .await
            .unwrap();
        assert_eq!(got.ips, [ip("192.0.2.9")]);
        assert_eq!(got.expanded_host, None);
        assert!(!got.authentic);
    }

    #[tokio::test]
    async fn host_cname_is_followed_and_reported() {
        let zone = MemoryResolver::new()
            .cname("mx.example.com", "server.example.net")
            .aaaa("server.example.net", Ipv6Addr::LOCALHOST)
            .authentic("mx.example.com");
        let got = gather_ips(&zone, &h("mx.example.com"), &DialedIps::new())
            .await
            .unwrap();
        assert_eq!(got.ips, [ip("::1")]);
        assert_eq!(got.expanded_host, Some(d("server.example.net")));
        assert!(!got.authentic);
        assert!(!got.expanded_authentic);
        assert!(!got.dual_stack);
    }

    #[tokio::test]
    async fn host_without_addresses_is_an_error() {
        let zone = MemoryResolver::new().txt("mx.example.com", "x");
        let err = gather_ips(&zone, &h("mx.example.com"), &DialedIps::new())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "host mx.example.com has no ip addresses: mx.example.com: no A records; \
             mx.example.com: no AAAA records"
        );
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn tlsa_records_with_authentic_flag() {
        let rec = Tlsa {
            usage: 3,
            selector: 1,
            matching_type: 1,
            data: vec![7; 32],
        };
        let zone = MemoryResolver::new()
            .tlsa("_25._tcp.secure.example", rec.clone())
            .authentic("_25._tcp.secure.example")
            .tlsa("_25._tcp.insecure.example", rec.clone())
            .a("plain.example", Ipv4Addr::LOCALHOST)
            .authentic("_25._tcp.plain.example")
            .temporary_failure("_25._tcp.broken.example");
        let secure = gather_tlsa(&zone, &d("secure.example"), 25).await.unwrap();
        assert_eq!(
            secure,
            GatheredTlsa {
                name: "_25._tcp.secure.example".into(),
                records: vec![rec.clone()],
                authentic: true
            }
        );
        let insecure = gather_tlsa(&zone, &d("insecure.example"), 25)
            .await
            .unwrap();
        assert_eq!(insecure.records, vec![rec]);
        assert!(!insecure.authentic);
        let none = gather_tlsa(&zone, &d("plain.example"), 25).await.unwrap();
        assert!(none.records.is_empty());
        assert!(none.authentic);
        let err = gather_tlsa(&zone, &d("broken.example"), 25)
            .await
            .unwrap_err();
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn tlsa_of_authentic_cname_target_is_preferred_then_original_name() {
        let rec = |b| Tlsa {
            usage: 3,
            selector: 1,
            matching_type: 1,
            data: vec![b; 32],
        };
        let zone = MemoryResolver::new()
            .cname("mx.example.com", "server.example.net")
            .a("server.example.net", Ipv4Addr::LOCALHOST)
            .tlsa("_25._tcp.server.example.net", rec(1))
            .tlsa("_25._tcp.mx.example.com", rec(2))
            .cname("mx2.example.com", "other.example.net")
            .a("other.example.net", Ipv4Addr::LOCALHOST)
            .tlsa("_25._tcp.mx2.example.com", rec(3))
            .all_authentic();
        let host = d("mx.example.com");
        let ips = gather_ips(&zone, &Host::Domain(host.clone()), &DialedIps::new())
            .await
            .unwrap();
        let (tlsa, base) = gather_tlsa_for_host(&zone, &host, &ips, 25).await.unwrap();
        assert_eq!(tlsa.records, vec![rec(1)]);
        assert_eq!(base, d("server.example.net"));

        let host2 = d("mx2.example.com");
        let ips2 = gather_ips(&zone, &Host::Domain(host2.clone()), &DialedIps::new())
            .await
            .unwrap();
        let (tlsa2, base2) = gather_tlsa_for_host(&zone, &host2, &ips2, 25)
            .await
            .unwrap();
        assert_eq!(tlsa2.records, vec![rec(3)]);
        assert_eq!(base2, host2);
    }

    /// The whole gathering against Unbound validating the Knot-signed
    /// postel.test zone (peers.md §10).
    #[tokio::test]
    #[ignore = "needs knot and unbound; run by .ci/run"]
    async fn gathering_from_signed_zone_is_authentic() {
        let addr = std::env::var("POSTEL_TEST_DNS")
            .expect("POSTEL_TEST_DNS=127.0.0.1:PORT of unbound")
            .parse()
            .expect("POSTEL_TEST_DNS is host:port");
        let resolver = dns::StubResolver::new(vec![addr]);
        let dest = gather_destinations(&resolver, &d("postel.test"))
            .await
            .unwrap();
        assert_eq!(hosts(&dest), ["mx1.postel.test", "mx2.postel.test"]);
        assert!(!dest.implicit_mx);
        assert!(dest.original_authentic);
        assert!(dest.expanded_authentic);

        let mut dialed = DialedIps::new();
        let got = gather_ips(&resolver, &dest.hosts[0], &dialed)
            .await
            .unwrap();
        assert_eq!(
            got,
            GatheredIps {
                ips: vec![ip("127.0.0.1"), ip("::1")],
                authentic: true,
                expanded_authentic: true,
                expanded_host: Some(d("mx1.postel.test")),
                dual_stack: true,
            }
        );
        dialed.record(&dest.hosts[0], ip("127.0.0.1"));
        let again = gather_ips(&resolver, &dest.hosts[0], &dialed)
            .await
            .unwrap();
        assert_eq!(again.ips, [ip("::1"), ip("127.0.0.1")]);

        let (tlsa, base) = gather_tlsa_for_host(&resolver, &d("mx1.postel.test"), &got, 25)
            .await
            .unwrap();
        assert_eq!(base, d("mx1.postel.test"));
        assert_eq!(
            tlsa,
            GatheredTlsa {
                name: "_25._tcp.mx1.postel.test".into(),
                records: vec![Tlsa {
                    usage: 3,
                    selector: 1,
                    matching_type: 1,
                    data: vec![0; 32]
                }],
                authentic: true,
            }
        );
        let none = gather_tlsa(&resolver, &d("mx2.postel.test"), 25)
            .await
            .unwrap();
        assert!(none.records.is_empty());
        assert!(none.authentic);
    }
}
