//! Connecting to SMTP servers: the pluggable dialer and IP ordering.
