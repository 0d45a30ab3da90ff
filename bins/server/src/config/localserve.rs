//! `localserve.toml`: optional settings of `postel localserve`, read from
//! `<data dir>/localserve.toml` when present or from the file given with
//! `--config`. Every key is optional; a command-line flag wins over the
//! file, the file over the built-in default.
//!
//! ```
//! use postel_server::config::localserve::LocalserveConfig;
//! let c = LocalserveConfig::parse(
//!     "localserve.toml",
//!     "webhook_url = \"http://127.0.0.1:8025/hooks\"\nhttp_port = 8080\n",
//! )
//! .unwrap();
//! assert_eq!(c.webhook_url.as_deref(), Some("http://127.0.0.1:8025/hooks"));
//! let err = LocalserveConfig::parse("localserve.toml", "password = \"\"\n").unwrap_err();
//! assert_eq!(err.to_string(), "localserve.toml:1: password: must not be empty");
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values::{Port, Span};
use super::{ConfigError, KeyPath, parse_located};

/// The file name looked for in the data directory.
pub const FILE_NAME: &str = "localserve.toml";

/// The settings a `localserve.toml` may give.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LocalserveConfig {
    /// Where webhooks of every event are posted (http or https).
    pub webhook_url: Option<String>,
    /// Password of the localserve account.
    pub password: Option<String>,
    /// How long `...timeout` recipients stay silent before 451.
    pub timeout_hang: Option<Span>,
    /// Local delivery listener (default 1025).
    pub smtp_port: Option<Port>,
    /// Submission listener (default 1587).
    pub submission_port: Option<Port>,
    /// Submissions (implicit TLS) listener (default 1465).
    pub submissions_port: Option<Port>,
    /// Web API listener (default 1080).
    pub http_port: Option<Port>,
}

fn check(c: &LocalserveConfig) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    if let Some(url) = &c.webhook_url
        && !crate::webhooks::is_http_url(url)
    {
        out.push((
            KeyPath::keys(&["webhook_url"]),
            format!("{url:?} is not an http or https URL with a host"),
        ));
    }
    if c.password.as_deref().is_some_and(str::is_empty) {
        out.push((KeyPath::keys(&["password"]), "must not be empty".into()));
    }
    let ports = [
        ("smtp_port", c.smtp_port),
        ("submission_port", c.submission_port),
        ("submissions_port", c.submissions_port),
        ("http_port", c.http_port),
    ];
    for (i, (key, port)) in ports.iter().enumerate() {
        let Some(Port(p)) = port else { continue };
        if let Some((other, _)) = ports[..i].iter().find(|(_, q)| *q == Some(Port(*p))) {
            out.push((
                KeyPath::keys(&[key]),
                format!("port {p} is already used by {other}"),
            ));
        }
    }
    out
}

impl LocalserveConfig {
    /// Parses and validates `source`; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<LocalserveConfig, ConfigError> {
        parse_located(file, source, check)
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<LocalserveConfig, ConfigError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        LocalserveConfig::parse(&file, &source)
    }

    /// The file to use: `explicit` when given (it must exist), else
    /// `<dir>/localserve.toml` when present, else none (all defaults).
    pub fn find(
        explicit: Option<&Path>,
        dir: &Path,
    ) -> Result<Option<(PathBuf, LocalserveConfig)>, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = dir.join(FILE_NAME);
                if !p.is_file() {
                    return Ok(None);
                }
                p
            }
        };
        let c = LocalserveConfig::load(&path)?;
        Ok(Some((path, c)))
    }

    /// These settings with each one `flags` gives replacing the file's.
    pub fn overridden_by(self, flags: LocalserveConfig) -> LocalserveConfig {
        LocalserveConfig {
            webhook_url: flags.webhook_url.or(self.webhook_url),
            password: flags.password.or(self.password),
            timeout_hang: flags.timeout_hang.or(self.timeout_hang),
            smtp_port: flags.smtp_port.or(self.smtp_port),
            submission_port: flags.submission_port.or(self.submission_port),
            submissions_port: flags.submissions_port.or(self.submissions_port),
            http_port: flags.http_port.or(self.http_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn err(source: &str) -> String {
        match LocalserveConfig::parse("localserve.toml", source) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_key_is_read() {
        let c = LocalserveConfig::parse(
            "localserve.toml",
            "webhook_url = \"https://hooks.example/in\"\npassword = \"pw\"\ntimeout_hang = \"2m\"\n\
             smtp_port = 2025\nsubmission_port = 2587\nsubmissions_port = 2465\nhttp_port = 2080\n",
        )
        .unwrap();
        assert_eq!(
            c,
            LocalserveConfig {
                webhook_url: Some("https://hooks.example/in".into()),
                password: Some("pw".into()),
                timeout_hang: Some(Span(Duration::from_secs(120))),
                smtp_port: Some(Port(2025)),
                submission_port: Some(Port(2587)),
                submissions_port: Some(Port(2465)),
                http_port: Some(Port(2080)),
            }
        );
        assert_eq!(
            LocalserveConfig::parse("localserve.toml", "").unwrap(),
            LocalserveConfig::default()
        );
    }

    #[test]
    fn problems_name_file_line_and_key() {
        assert_eq!(
            err("password = \"x\"\nwebhook_url = \"ftp://h/x\"\n"),
            "localserve.toml:2: webhook_url: \"ftp://h/x\" is not an http or https URL with a host"
        );
        assert_eq!(
            err("\nhttp_port = 0\n"),
            "localserve.toml:2: http_port: invalid value 0: expected a port number"
        );
        assert_eq!(
            err("smtp_port = 2025\nhttp_port = 2025\n"),
            "localserve.toml:2: http_port: port 2025 is already used by smtp_port"
        );
        assert!(err("webhook = \"http://x/\"\n").starts_with(
            "localserve.toml:1: webhook: unknown field `webhook`, expected one of `webhook_url`"
        ),);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = LocalserveConfig {
            webhook_url: Some("http://file.example/".into()),
            password: Some("from-file".into()),
            http_port: Some(Port(2080)),
            ..LocalserveConfig::default()
        };
        let flags = LocalserveConfig {
            webhook_url: Some("http://flag.example/".into()),
            ..LocalserveConfig::default()
        };
        let c = file.overridden_by(flags);
        assert_eq!(c.webhook_url.as_deref(), Some("http://flag.example/"));
        assert_eq!(c.password.as_deref(), Some("from-file"));
        assert_eq!(c.http_port, Some(Port(2080)));
        assert_eq!(c.smtp_port, None);
    }

    #[test]
    fn data_dir_file_is_used_only_when_present_and_an_explicit_one_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LocalserveConfig::find(None, dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(FILE_NAME), "http_port = 2080\n").unwrap();
        let (path, c) = LocalserveConfig::find(None, dir.path()).unwrap().unwrap();
        assert_eq!(path, dir.path().join(FILE_NAME));
        assert_eq!(c.http_port, Some(Port(2080)));
        let missing = dir.path().join("nope.toml");
        let e = LocalserveConfig::find(Some(&missing), dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("reading config file {}: ", missing.display())),
            "{e}"
        );
    }
}
