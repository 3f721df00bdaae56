//! Loose numeric versions (`v0.20.0`, `1.27.1`, `1.33`) compared component by component.

use std::fmt;

/// A dotted numeric version; a leading `v` is ignored, missing components are zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Parses `v1.2.3`, `1.2.3` or `1.2`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let parts: Option<Vec<u64>> = s.split('.').map(|p| p.parse().ok()).collect();
        let mut parts = parts.filter(|p| !p.is_empty() && p.len() <= 4)?;
        while parts.len() < 3 {
            parts.push(0);
        }
        Some(Version(parts))
    }

    /// `major.minor` only. The empty version (`Version::default()`, "no minimum known") is 0.0,
    /// below every real version.
    pub fn minor(&self) -> (u64, u64) {
        (self.0.first().copied().unwrap_or(0), self.0.get(1).copied().unwrap_or(0))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = self.0.clone();
        while parts.len() > 2 && parts.last() == Some(&0) {
            parts.pop();
        }
        let s: Vec<String> = parts.iter().map(u64::to_string).collect();
        f.write_str(&s.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn ordering_is_numeric() {
        assert!(Version::parse("v0.9.0") < Version::parse("v0.10.0"));
        assert!(Version::parse("1.32") > Version::parse("1.9"));
        assert_eq!(Version::parse("1.32"), Version::parse("1.32.0"));
        assert_eq!(Version::parse("x"), None);
        assert_eq!(Version::parse("1..2"), None);
    }

    #[test]
    fn the_empty_version_is_below_every_minor() {
        // `Catalog::kubernetes_minimum` starts from it, and stays there when no fact applies
        // (OpenShift on a release without a minimum of its own).
        assert_eq!(Version::default().minor(), (0, 0));
        assert!(Version::parse("1.24").unwrap().minor() > Version::default().minor());
    }
}
