//! An async SMTP client.

pub mod dial;
pub mod gather;
pub mod stream;
