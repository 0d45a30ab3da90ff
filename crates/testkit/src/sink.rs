//! An in-process SMTP sink for examples and tests.
