//! DNS lookups for mail delivery, with DNSSEC status.
//!
//! Every answer carries an `authentic` flag: whether the data was
//! DNSSEC-validated. Postel does not validate signatures itself; like Postfix
//! and mox it asks the configured recursive resolver (a local validating
//! resolver such as Unbound, for deployments that want DANE) and trusts the
//! AD bit of its responses.
//!
//! - [`Resolver`]: the trait every crate codes against (MX, A, AAAA, TXT,
//!   TLSA, PTR, CNAME), with NXDOMAIN, "no records" and temporary failures
//!   kept apart in [`LookupError`].
//! - [`StubResolver`]: sends queries to configured recursive resolvers over
//!   UDP (TCP when truncated), with AD and EDNS DO set.
//! - [`MemoryResolver`]: an in-memory zone for tests and examples.
//! - [`parse_resolv_conf`]: the `nameserver` lines of `/etc/resolv.conf`.
//!
//! ```
//! use dns::{MemoryResolver, Resolver};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let zone = MemoryResolver::new()
//!     .mx("example.com", 10, "mx.example.com")
//!     .a("mx.example.com", "192.0.2.1".parse().unwrap())
//!     .authentic("example.com");
//! let answer = zone.lookup_mx("Example.COM.").await.unwrap();
//! assert_eq!(answer.records[0].exchange, "mx.example.com");
//! assert!(answer.authentic);
//! assert!(zone.lookup_mx("other.example").await.unwrap_err().is_not_found());
//! # });
//! ```

mod error;
mod memory;
mod name;
mod records;
mod resolv_conf;
mod resolver;
mod stub;

pub use error::LookupError;
pub use memory::MemoryResolver;
pub use name::{normalize_name, reverse_name};
pub use records::{Answer, Mx, Tlsa};
pub use resolv_conf::parse_resolv_conf;
pub use resolver::{BoxFuture, LookupResult, Resolver};
pub use stub::{StubConfig, StubResolver};

/// The most CNAME records followed from one name before a lookup gives up.
pub const MAX_CNAME_CHAIN: usize = 16;
