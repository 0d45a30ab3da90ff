//! A stub resolver: queries configured recursive resolvers and trusts their
//! AD bit.

mod cache;
mod message;
mod transport;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::resolver::LookupResult;
use crate::{Answer, BoxFuture, LookupError, Mx, Resolver, Tlsa, normalize_name, reverse_name};
use cache::Cache;
use message::{build_query, extract, name_string};
use transport::{tcp_exchange, udp_exchange};

/// Settings of a [`StubResolver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StubConfig {
    /// Recursive resolvers, tried in order.
    pub servers: Vec<SocketAddr>,
    /// How long to wait for one server's answer (UDP, or TCP after truncation).
    pub timeout: Duration,
    /// How many rounds over all servers before giving up.
    pub attempts: u32,
    /// EDNS0 UDP payload size announced to the server.
    pub udp_payload: u16,
    /// How many positive answers to keep, each until its TTL runs out;
    /// 0 turns the cache off.
    pub cache_entries: usize,
    /// The longest an answer is cached, whatever its TTL.
    pub cache_max_ttl: Duration,
}

impl StubConfig {
    /// Defaults as in resolv.conf (5 s timeout, 2 attempts), the DNS flag
    /// day 2020 payload size of 1232 octets, and a cache of 1024 answers
    /// for at most an hour.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers,
            timeout: Duration::from_secs(5),
            attempts: 2,
            udp_payload: 1232,
            cache_entries: 1024,
            cache_max_ttl: Duration::from_secs(3600),
        }
    }
}

/// Sends recursive queries (RD=1, AD=1, EDNS0 with DO) to the configured
/// resolvers and reports their AD bit as `authentic`.
///
/// Trusting the AD bit is only sound when the path to the resolver is
/// trusted, e.g. a validating resolver on the same host. UDP is used first;
/// a truncated answer is asked again over TCP. SERVFAIL, REFUSED, timeouts
/// and network errors move on to the next server and end, when every
/// attempt failed, in [`LookupError::Temporary`].
///
/// ```no_run
/// use dns::{Resolver, StubResolver};
///
/// # async fn f() -> Result<(), dns::LookupError> {
/// let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
/// let resolver = StubResolver::new(dns::parse_resolv_conf(&text));
/// let mx = resolver.lookup_mx("example.com").await?;
/// println!("{:?} authentic={}", mx.records, mx.authentic);
/// # Ok(()) }
/// ```
pub struct StubResolver {
    config: StubConfig,
    cache: Cache,
}

impl std::fmt::Debug for StubResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubResolver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StubResolver {
    /// A resolver for `servers` with default timeouts.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self::with_config(StubConfig::new(servers))
    }

    /// A resolver with explicit settings.
    pub fn with_config(config: StubConfig) -> Self {
        let cache = Cache::new(config.cache_entries, config.cache_max_ttl);
        Self { config, cache }
    }

    /// The settings in use.
    pub fn config(&self) -> &StubConfig {
        &self.config
    }

    /// Gets a NOERROR or NXDOMAIN response for `name`/`rtype` from one of the
    /// servers.
    async fn query(
        &self,
        name: &str,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, LookupError> {
        let mut last_error = "no dns servers configured".to_owned();
        for attempt in 0..self.config.attempts.max(1) {
            for &server in &self.config.servers {
                match self.query_server(server, qname, rtype).await {
                    Ok(response) => return Ok(response),
                    Err(reason) => {
                        tracing::debug!(target: "dns", %server, name, %rtype, attempt, %reason, "dns query failed");
                        last_error = reason;
                    }
                }
            }
        }
        Err(LookupError::temporary(name, last_error))
    }

    async fn query_server(
        &self,
        server: SocketAddr,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, String> {
        let query = build_query(qname.clone(), rtype, self.config.udp_payload);
        let wire = query.to_vec().map_err(|e| format!("encoding query: {e}"))?;
        tracing::trace!(target: "dns", %server, name = %qname, %rtype, id = query.metadata.id, "sending query");
        let mut response = udp_exchange(server, &query, &wire, self.config.timeout).await?;
        if response.metadata.truncation {
            tracing::trace!(target: "dns", %server, name = %qname, "truncated, retrying over tcp");
            response = tcp_exchange(server, &query, &wire, self.config.timeout).await?;
        }
        let rcode = response.metadata.response_code;
        tracing::trace!(target: "dns", %server, name = %qname, %rtype, %rcode,
            ad = response.metadata.authentic_data, answers = response.answers.len(), "response");
        match rcode {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(response),
            other => Err(format!("{server} answered {other}")),
        }
    }

    async fn lookup<T>(
        &self,
        name: &str,
        rtype: RecordType,
        rtype_name: &'static str,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> LookupResult<T> {
        let name = normalize_name(name)?;
        let qname = Name::from_ascii(format!("{name}.")).map_err(|e| LookupError::InvalidName {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let cached = self.cache.get(&name, rtype);
        let from_cache = cached.is_some();
        let response = match cached {
            Some(response) => response,
            None => self.query(&name, &qname, rtype).await?,
        };
        let authentic = response.metadata.authentic_data;
        if response.metadata.response_code == ResponseCode::NXDomain {
            return Err(LookupError::NxDomain { name, authentic });
        }
        let records = extract(&response, &name, rtype, pick);
        if records.is_empty() {
            return Err(LookupError::NoRecords {
                name,
                rtype: rtype_name,
                authentic,
            });
        }
        if !from_cache {
            self.cache.put(&name, rtype, &response);
        }
        Ok(Answer { records, authentic })
    }
}

impl Resolver for StubResolver {
    fn lookup_mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Mx>> {
        Box::pin(self.lookup(name, RecordType::MX, "MX", |data| match data {
            RData::MX(mx) => Some(Mx {
                preference: mx.preference,
                exchange: name_string(&mx.exchange),
            }),
            _ => None,
        }))
    }

    fn lookup_a<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv4Addr>> {
        Box::pin(self.lookup(name, RecordType::A, "A", |data| match data {
            RData::A(a) => Some(a.0),
            _ => None,
        }))
    }

    fn lookup_aaaa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv6Addr>> {
        Box::pin(
            self.lookup(name, RecordType::AAAA, "AAAA", |data| match data {
                RData::AAAA(aaaa) => Some(aaaa.0),
                _ => None,
            }),
        )
    }

    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Vec<u8>>> {
        Box::pin(self.lookup(name, RecordType::TXT, "TXT", |data| {
            match data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect(),
                ),
                _ => None,
            }
        }))
    }

    fn lookup_tlsa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Tlsa>> {
        Box::pin(
            self.lookup(name, RecordType::TLSA, "TLSA", |data| match data {
                RData::TLSA(tlsa) => Some(Tlsa {
                    usage: tlsa.cert_usage.into(),
                    selector: tlsa.selector.into(),
                    matching_type: tlsa.matching.into(),
                    data: tlsa.cert_data.clone(),
                }),
                _ => None,
            }),
        )
    }

    fn lookup_ptr(&self, ip: IpAddr) -> BoxFuture<'_, LookupResult<String>> {
        Box::pin(async move {
            self.lookup(
                &reverse_name(ip),
                RecordType::PTR,
                "PTR",
                |data| match data {
                    RData::PTR(ptr) => Some(name_string(&ptr.0)),
                    _ => None,
                },
            )
            .await
        })
    }

    fn lookup_cname<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>> {
        Box::pin(
            self.lookup(name, RecordType::CNAME, "CNAME", |data| match data {
                RData::CNAME(cname) => Some(name_string(&cname.0)),
                _ => None,
            }),
        )
    }
}
