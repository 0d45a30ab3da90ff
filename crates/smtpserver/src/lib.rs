//! An async SMTP server engine; policy through traits.
