//! The resolver trait.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;

use crate::{Answer, LookupError, Mx, Tlsa};

/// A boxed future, so [`Resolver`] can be used as `dyn Resolver`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of one lookup.
pub type LookupResult<T> = Result<Answer<T>, LookupError>;

/// DNS lookups with DNSSEC status.
///
/// Names are ASCII (A-labels), absolute, with or without trailing dot, in
/// any case. Names in answers are lower-case without trailing dot. For all
/// types except CNAME, a CNAME at the name is followed (as a recursive
/// resolver does) and the answer is authentic only if every hop was.
pub trait Resolver: Send + Sync {
    /// MX records. A null MX (RFC 7505) has an empty `exchange`.
    fn lookup_mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Mx>>;

    /// IPv4 addresses.
    fn lookup_a<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv4Addr>>;

    /// IPv6 addresses.
    fn lookup_aaaa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv6Addr>>;

    /// TXT records, each record's character strings concatenated.
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Vec<u8>>>;

    /// TLSA records (RFC 6698), e.g. of `_25._tcp.mx.example.com`.
    fn lookup_tlsa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Tlsa>>;

    /// The names of an address (PTR records of its reverse name).
    fn lookup_ptr(&self, ip: IpAddr) -> BoxFuture<'_, LookupResult<String>>;

    /// The CNAME target of a name, not followed further.
    fn lookup_cname<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>>;

    /// TXT records as text (invalid UTF-8 replaced), for SPF, DMARC and
    /// MTA-STS records.
    fn lookup_txt_strings<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>> {
        Box::pin(async move {
            let answer = self.lookup_txt(name).await?;
            Ok(answer.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        })
    }
}

impl<R: Resolver + ?Sized> Resolver for std::sync::Arc<R> {
    fn lookup_mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Mx>> {
        (**self).lookup_mx(name)
    }
    fn lookup_a<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv4Addr>> {
        (**self).lookup_a(name)
    }
    fn lookup_aaaa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv6Addr>> {
        (**self).lookup_aaaa(name)
    }
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Vec<u8>>> {
        (**self).lookup_txt(name)
    }
    fn lookup_tlsa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Tlsa>> {
        (**self).lookup_tlsa(name)
    }
    fn lookup_ptr(&self, ip: IpAddr) -> BoxFuture<'_, LookupResult<String>> {
        (**self).lookup_ptr(ip)
    }
    fn lookup_cname<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>> {
        (**self).lookup_cname(name)
    }
}

impl<R: Resolver + ?Sized> Resolver for Box<R> {
    fn lookup_mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Mx>> {
        (**self).lookup_mx(name)
    }
    fn lookup_a<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv4Addr>> {
        (**self).lookup_a(name)
    }
    fn lookup_aaaa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Ipv6Addr>> {
        (**self).lookup_aaaa(name)
    }
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Vec<u8>>> {
        (**self).lookup_txt(name)
    }
    fn lookup_tlsa<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<Tlsa>> {
        (**self).lookup_tlsa(name)
    }
    fn lookup_ptr(&self, ip: IpAddr) -> BoxFuture<'_, LookupResult<String>> {
        (**self).lookup_ptr(ip)
    }
    fn lookup_cname<'a>(&'a self, name: &'a str) -> BoxFuture<'a, LookupResult<String>> {
        (**self).lookup_cname(name)
    }
}
