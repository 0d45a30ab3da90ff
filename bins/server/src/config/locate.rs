//! Finding where in the file a key is, and which key a byte offset belongs
//! to, so every error names its line and key.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A key path such as `transports.relay.submission.port` or `routes[0].transport`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The path of plain keys.
    pub fn keys(keys: &[&str]) -> KeyPath {
        KeyPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }

    /// This path with a key appended.
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// This path with an index appended.
    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Whether the path is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn bare(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    if bare(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source
        .as_bytes()
        .get(..end)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
        + 1
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// The deepest key path whose key or value covers `offset`.
pub fn path_at(root: &Spanned<DeTable<'_>>, offset: usize) -> KeyPath {
    let mut path = KeyPath::default();
    find_in_table(root.get_ref(), offset, &mut path);
    path
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut KeyPath) -> bool {
    for (k, v) in table.iter() {
        if contains(&k.span(), offset) {
            path.0.push(Seg::Key(k.get_ref().to_string()));
            return true;
        }
        path.0.push(Seg::Key(k.get_ref().to_string()));
        if find_in_value(v, offset, path) {
            return true;
        }
        path.0.pop();
    }
    false
}

fn find_in_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut KeyPath) -> bool {
    match v.get_ref() {
        DeValue::Table(t) if find_in_table(t, offset, path) => return true,
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.0.push(Seg::Index(i));
                if find_in_value(item, offset, path) {
                    return true;
                }
                path.0.pop();
            }
        }
        _ => {}
    }
    contains(&v.span(), offset)
}

/// Where a key path is: its key (or array element) span's start.
pub fn offset_of(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<usize> {
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    let mut at = None;
    for seg in &path.0 {
        match seg {
            Seg::Key(k) => {
                let t = table?;
                let (key, v) = t.iter().find(|(key, _)| key.get_ref() == k)?;
                at = Some(key.span().start);
                value = Some(v);
            }
            Seg::Index(i) => {
                let a = value?.get_ref().as_array()?;
                let item = a.get(*i)?;
                at = Some(item.span().start);
                value = Some(item);
            }
        }
        table = value.and_then(|v| v.get_ref().as_table());
    }
    at
}
