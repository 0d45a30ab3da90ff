//! Accounts' mailboxes, messages and credentials.
