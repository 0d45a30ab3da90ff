//! An in-memory zone for tests and examples.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::resolver::LookupResult;
use crate::{
    Answer, BoxFuture, LookupError, MAX_CNAME_CHAIN, Mx, Resolver, Tlsa, normalize_name,
    reverse_name,
};

/// Records of one name.
#[derive(Clone, Debug, Default)]
struct Node {
    mx: Vec<Mx>,
    a: Vec<Ipv4Addr>,
    aaaa: Vec<Ipv6Addr>,
    txt: Vec<Vec<u8>>,
    tlsa: Vec<Tlsa>,
    ptr: Vec<String>,
    cname: Option<String>,
}

/// A resolver answering from records added with its builder methods, the way
/// a recursive resolver would answer for them.
///
/// - A name exists when it has any record (or a CNAME); asking an existing
///   name for a type it lacks gives [`LookupError::NoRecords`], asking a
///   missing name gives [`LookupError::NxDomain`].
/// - CNAMEs are followed for every type but CNAME itself, up to
///   [`MAX_CNAME_CHAIN`] hops; a loop is a temporary failure (a recursive
///   resolver answers SERVFAIL).
/// - Answers (and denials) are authentic when every name involved was marked
///   with [`authentic`](Self::authentic) or [`all_authentic`](Self::all_authentic) was set.
/// - A name marked with [`temporary_failure`](Self::temporary_failure) fails
///   every lookup that reaches it.
///
/// ```
/// use dns::{MemoryResolver, Resolver, LookupError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let zone = MemoryResolver::new()
///     .cname("www.example.com", "web.example.net")
///     .a("web.example.net", "192.0.2.7".parse().unwrap())
///     .authentic("www.example.com");
/// let answer = zone.lookup_a("www.example.com").await.unwrap();
/// assert_eq!(answer.records, vec!["192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()]);
/// assert!(!answer.authentic); // web.example.net is not authentic
/// assert!(matches!(
///     zone.lookup_mx("web.example.net").await,
///     Err(LookupError::NoRecords { .. })
/// ));
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryResolver {
    nodes: HashMap<String, Node>,
    authentic: HashSet<String>,
    all_authentic: bool,
    failing: HashSet<String>,
}

/// Builder input is trusted test data: only case and the trailing dot are
/// normalised, so odd names still work as keys.
fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl MemoryResolver {
    /// An empty zone: every name is NXDOMAIN, nothing is authentic.
    pub fn new() -> Self {
        Self::default()
    }

    fn node(&mut self, name: &str) -> &mut Node {
        self.nodes.entry(key(name)).or_default()
    }

    /// Adds an MX record; an `exchange` of "." or "" is a null MX.
    pub fn mx(mut self, name: &str, preference: u16, exchange: &str) -> Self {
        let exchange = key(exchange);
        self.node(name).mx.push(Mx {
            preference,
            exchange,
        });
        self
    }

    /// Adds an A record.
    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.node(name).a.push(ip);
        self
    }

    /// Adds an AAAA record.
    pub fn aaaa(mut self, name: &str, ip: Ipv6Addr) -> Self {
        self.node(name).aaaa.push(ip);
        self
    }

    /// Adds an A or AAAA record, by the address family.
    pub fn ip(self, name: &str, ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => self.a(name, v4),
            IpAddr::V6(v6) => self.aaaa(name, v6),
        }
    }

    /// Adds a TXT record (its strings already concatenated).
    pub fn txt(mut self, name: &str, data: impl AsRef<[u8]>) -> Self {
        self.node(name).txt.push(data.as_ref().to_vec());
        self
    }

    /// Adds a TLSA record.
    pub fn tlsa(mut self, name: &str, tlsa: Tlsa) -> Self {
        self.node(name).tlsa.push(tlsa);
        self
    }

    /// Adds a PTR record for `ip` (at its [`reverse_name`]).
    pub fn ptr(mut self, ip: IpAddr, target: &str) -> Self {
        let target = key(target);
        self.node(&reverse_name(ip)).ptr.push(target);
        self
    }

    /// Sets the CNAME of a name (replacing an earlier one).
    pub fn cname(mut self, name: &str, target: &str) -> Self {
        let target = key(target);
        self.node(name).cname = Some(target);
        self
    }

    /// Marks a name's records, and its non-existence, as DNSSEC-authentic.
    pub fn authentic(mut self, name: &str) -> Self {
        self.authentic.insert(key(name));
        self
    }

    /// Marks every name as DNSSEC-authentic.
    pub fn all_authentic(mut self) -> Self {
        self.all_authentic = true;
        self
    }

    /// Makes every lookup that reaches `name` fail temporarily (as SERVFAIL).
    pub fn temporary_failure(mut self, name: &str) -> Self {
        self.failing.insert(key(name));
        self
    }

    fn is_authentic(&self, name: &str) -> bool {
        self.all_authentic || self.authentic.contains(name)
    }

    /// Follows CNAMEs from `name` until a node has records `pick` selects.
    fn resolve<T: Clone>(
        &self,
        name: &str,
        rtype: &'static str,
        pick: impl Fn(&Node) -> &[T],
    ) -> LookupResult<T> {
        let start = normalize_name(name)?;
        let mut current = start.clone();
        let mut authentic = true;
        let mut seen = HashSet::new();
        for _ in 0..=MAX_CNAME_CHAIN {
            if self.failing.contains(&current) {
                return Err(LookupError::temporary(
                    &start,
                    "server failure (configured)",
                ));
            }
            authentic &= self.is_authentic(&current);
            let Some(node) = self.nodes.get(&current) else {
                return Err(LookupError::NxDomain {
                    name: start,
                    authentic,
                });
            };
            let records = pick(node);
            if !records.is_empty() {
                return Ok(Answer {
                    records: records.to_vec(),
                    authentic,
                });
            }
            let Some(target) = &node.cname else {
                return Err(LookupError::NoRecords {
                    name: start,
                    rtype,
                    authentic,
                });
            };
            seen.insert(current);
            if seen.contains(target) {
                return Err(LookupError::temporary(&start, "cname loop"));
            }
            current = target.clone();
        }
        Err(LookupError::temporary(&start, "cname chain too long"))
    }

    fn resolve_cname(&self, name: &str) -> LookupResult<String> {
        let name = normalize_name(name)?;
        if self.failing.contains(&name) {
            return Err(LookupError::temporary(&name, "server failure (configured)"));
        }
        let authentic = self.is_authentic(&name);
        match self.nodes.get(&name) {
            None => Err(LookupError::NxDomain { name, authentic }),
            Some(Node {
                cname: Some(target),
                ..
            }) => Ok(Answer {
                records: vec![target.clone()],
                authentic,
            }),
            Some(_) => Err(LookupError::NoRecords {
                name,
                rtype: "CNAME",
                authentic,
            }),
        }
    }
}

impl Resolver for MemoryResolver {
    fn lookup_mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Mx>> {
        Box::pin(async move { self.resolve(name, "MX", |n| &n.mx) })
    }

    fn lookup_a<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv4Addr>> {
        Box::pin(async move { self.resolve(name, "A", |n| &n.a) })
    }

    fn lookup_aaaa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv6Addr>> {
        Box::pin(async move { self.resolve(name, "AAAA", |n| &n.aaaa) })
    }

    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Vec<u8>>> {
        Box::pin(async move { self.resolve(name, "TXT", |n| &n.txt) })
    }

    fn lookup_tlsa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Tlsa>> {
        Box::pin(async move { self.resolve(name, "TLSA", |n| &n.tlsa) })
    }

    fn lookup_ptr(&self, ip: IpAddr) -> BoxFuture<'_, LookupResult<String>> {
        Box::pin(async move { self.resolve(&reverse_name(ip), "PTR", |n| &n.ptr) })
    }

    fn lookup_cname<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>> {
        Box::pin(async move { self.resolve_cname(name) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn zone() -> MemoryResolver {
        MemoryResolver::new()
            .mx("example.com", 10, "mx1.example.com.")
            .mx("example.com", 20, "MX2.example.com")
            .a("mx1.example.com", Ipv4Addr::new(192, 0, 2, 1))
            .aaaa("mx1.example.com", "2001:db8::1".parse().unwrap())
            .txt("example.com", b"v=spf1 -all")
            .cname("alias.example.com", "example.com")
            .cname("far.example.com", "alias.example.com")
            .cname("loop1.example.com", "loop2.example.com")
            .cname("loop2.example.com", "loop1.example.com")
            .cname("dangling.example.com", "gone.example.com")
            .mx("null.example.com", 0, ".")
            .ptr("192.0.2.1".parse().unwrap(), "mx1.example.com")
            .authentic("example.com")
            .authentic("alias.example.com")
            .authentic("gone.example.com")
            .temporary_failure("broken.example.com")
    }

    #[test]
    fn records_come_back_normalised_with_authentic_flag() {
        let z = zone();
        let mx = block_on(z.lookup_mx("EXAMPLE.com.")).unwrap();
        assert_eq!(
            mx,
            Answer {
                records: vec![
                    Mx {
                        preference: 10,
                        exchange: "mx1.example.com".into()
                    },
                    Mx {
                        preference: 20,
                        exchange: "mx2.example.com".into()
                    },
                ],
                authentic: true,
            }
        );
        let a = block_on(z.lookup_a("mx1.example.com")).unwrap();
        assert_eq!(a.records, vec![Ipv4Addr::new(192, 0, 2, 1)]);
        assert!(!a.authentic);
        let txt = block_on(z.lookup_txt_strings("example.com")).unwrap();
        assert_eq!(txt.records, vec!["v=spf1 -all".to_string()]);
    }

    #[test]
    fn missing_name_is_nxdomain_and_missing_type_is_no_records() {
        let z = zone();
        assert_eq!(
            block_on(z.lookup_mx("nothere.example.com")),
            Err(LookupError::NxDomain {
                name: "nothere.example.com".into(),
                authentic: false
            })
        );
        assert_eq!(
            block_on(z.lookup_tlsa("mx1.example.com")),
            Err(LookupError::NoRecords {
                name: "mx1.example.com".into(),
                rtype: "TLSA",
                authentic: false
            })
        );
    }

    #[test]
    fn cname_chain_is_followed_and_authentic_only_if_all_hops_are() {
        let z = zone();
        let via_alias = block_on(z.lookup_mx("alias.example.com")).unwrap();
        assert_eq!(via_alias.records.len(), 2);
        assert!(via_alias.authentic);
        let via_far = block_on(z.lookup_mx("far.example.com")).unwrap();
        assert_eq!(via_far.records.len(), 2);
        assert!(!via_far.authentic);
    }

    #[test]
    fn dangling_cname_is_nxdomain_of_the_asked_name() {
        let z = zone();
        assert_eq!(
            block_on(z.lookup_a("dangling.example.com")),
            Err(LookupError::NxDomain {
                name: "dangling.example.com".into(),
                authentic: false
            })
        );
    }

    #[test]
    fn cname_loop_is_temporary() {
        let z = zone();
        let err = block_on(z.lookup_a("loop1.example.com")).unwrap_err();
        assert!(err.is_temporary());
        assert_eq!(
            err.to_string(),
            "loop1.example.com: temporary dns failure: cname loop"
        );
    }

    #[test]
    fn long_cname_chain_gives_up() {
        let mut z = MemoryResolver::new();
        for i in 0..20 {
            z = z.cname(&format!("c{i}.example"), &format!("c{}.example", i + 1));
        }
        z = z.a("c20.example", Ipv4Addr::LOCALHOST);
        let err = block_on(z.lookup_a("c0.example")).unwrap_err();
        assert_eq!(
            err,
            LookupError::Temporary {
                name: "c0.example".into(),
                reason: "cname chain too long".into()
            }
        );
        assert!(block_on(z.lookup_a("c5.example")).is_ok());
    }

    #[test]
    fn cname_query_returns_target_without_following() {
        let z = zone();
        let answer = block_on(z.lookup_cname("far.example.com")).unwrap();
        assert_eq!(answer.records, vec!["alias.example.com".to_string()]);
        assert!(
            block_on(z.lookup_cname("example.com"))
                .unwrap_err()
                .is_not_found()
        );
        assert!(
            block_on(z.lookup_cname("x.example.com"))
                .unwrap_err()
                .is_nxdomain()
        );
    }

    #[test]
    fn null_mx_has_empty_exchange() {
        let z = zone();
        let answer = block_on(z.lookup_mx("null.example.com")).unwrap();
        assert_eq!(answer.records.len(), 1);
        assert!(answer.records[0].is_null());
        assert_eq!(answer.records[0].exchange, "");
    }

    #[test]
    fn ptr_lookup_uses_reverse_name() {
        let z = zone();
        let answer = block_on(z.lookup_ptr("192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!(answer.records, vec!["mx1.example.com".to_string()]);
        assert!(
            block_on(z.lookup_ptr("192.0.2.2".parse().unwrap()))
                .unwrap_err()
                .is_nxdomain()
        );
    }

    #[test]
    fn temporary_failure_applies_to_every_type_and_through_cnames() {
        let z = zone().cname("to-broken.example.com", "broken.example.com");
        assert!(
            block_on(z.lookup_mx("broken.example.com"))
                .unwrap_err()
                .is_temporary()
        );
        assert!(
            block_on(z.lookup_cname("broken.example.com"))
                .unwrap_err()
                .is_temporary()
        );
        assert!(
            block_on(z.lookup_a("to-broken.example.com"))
                .unwrap_err()
                .is_temporary()
        );
    }

    #[test]
    fn authentic_denial_is_reported() {
        let z = MemoryResolver::new().all_authentic();
        assert_eq!(
            block_on(z.lookup_mx("none.example"))
                .unwrap_err()
                .authentic(),
            Some(true)
        );
    }

    #[test]
    fn invalid_name_is_rejected() {
        let z = zone();
        assert!(matches!(
            block_on(z.lookup_mx("a..b")),
            Err(LookupError::InvalidName { .. })
        ));
    }
}
