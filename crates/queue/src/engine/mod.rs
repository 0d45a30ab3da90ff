//! The scheduler and delivery engine: claims due rows, routes them to a
//! transport, delivers with the SMTP client, and records the outcome.
