//! The configuration file: `postel.toml`, read and validated once.
//!
//! Every error names the file, the line and the key:
//! `postel.toml:12: transports.relay.submission.port: invalid value "x": expected a port number`.

pub mod localserve;
mod locate;
mod model;
mod validate;
pub mod values;

use std::fmt;
use std::path::Path;

pub use locate::{KeyPath, line_of};
pub use model::*;
pub use validate::{base_of, parse_resolver};

/// One located problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The key path, empty for syntax errors.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.key, self.message
            )
        }
    }
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {file}: {source}")]
    Read {
        /// The path.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type, unknown-key or semantic problems.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone());
        Config::parse(&name, &source)
    }

    /// Parses and validates `source`; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Config, ConfigError> {
        parse_located(file, source, validate::validate)
    }

    /// The catchall separator of an account as a char.
    pub fn separator(&self, account: &str) -> Option<char> {
        self.accounts
            .get(account)
            .and_then(|a| a.catchall_separator.as_deref())
            .and_then(|s| s.chars().next())
    }
}

/// Deserializes `source` into `T` and runs `check` over it; every problem
/// is located by the key path it names (file:line: key: message).
pub(crate) fn parse_located<T: serde::de::DeserializeOwned>(
    file: &str,
    source: &str,
    check: impl FnOnce(&T) -> Vec<(KeyPath, String)>,
) -> Result<T, ConfigError> {
    let problem = |offset: usize, key: String, message: String| ConfigProblem {
        file: file.to_string(),
        line: line_of(source, offset),
        key,
        message,
    };
    let doc = match toml::de::DeTable::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            return Err(ConfigError::Invalid(vec![problem(
                offset,
                String::new(),
                e.message().trim_end().to_string(),
            )]));
        }
    };
    let value: T = match toml::from_str(source) {
        Ok(v) => v,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let key = locate::path_at(&doc, offset).to_string();
            return Err(ConfigError::Invalid(vec![problem(
                offset,
                key,
                e.message().trim_end().to_string(),
            )]));
        }
    };
    let problems: Vec<ConfigProblem> = check(&value)
        .into_iter()
        .map(|(path, message)| {
            let offset = locate::offset_of(&doc, &path).unwrap_or(0);
            problem(offset, path.to_string(), message)
        })
        .collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests;
