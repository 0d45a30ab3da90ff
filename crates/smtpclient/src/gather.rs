//! Finding where to deliver: MX targets, IP addresses and TLSA records.
