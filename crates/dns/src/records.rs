//! Record data as the resolver returns it.

/// The records of one answer and whether they were DNSSEC-validated.
///
/// A successful lookup always has at least one record; an empty answer is
/// reported as [`LookupError::NoRecords`](crate::LookupError::NoRecords).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer<T> {
    /// The records, in the order the resolver gave them.
    pub records: Vec<T>,
    /// True when every name involved (including CNAME hops) was validated.
    pub authentic: bool,
}

impl<T> Answer<T> {
    /// Converts each record, keeping the authentic flag.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Answer<U> {
        Answer {
            records: self.records.into_iter().map(f).collect(),
            authentic: self.authentic,
        }
    }
}

/// A mail exchanger (RFC 5321 §5.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mx {
    /// Lower values are tried first.
    pub preference: u16,
    /// The host name, lower-case without trailing dot. A null MX (RFC 7505,
    /// the target ".") has the empty string here.
    pub exchange: String,
}

impl Mx {
    /// True for a null MX (RFC 7505): the domain accepts no mail.
    pub fn is_null(&self) -> bool {
        self.exchange.is_empty()
    }
}

/// A TLSA record (RFC 6698), fields as numbers so unknown values survive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact data, 1 SHA-256, 2 SHA-512.
    pub matching_type: u8,
    /// The certificate association data.
    pub data: Vec<u8>,
}
