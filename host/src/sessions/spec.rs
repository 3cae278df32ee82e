//! What a caller may ask of a session when creating it.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default lifetime of a session.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Longest lifetime a session may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Options of `POST /api/v1/sessions`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Seconds until the session is closed, counted from creation (default 900, at most 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Calls after which the session is recycled (unlimited when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<u32>,
    /// Browser viewport in CSS pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Viewport>,
    /// Browser user agent string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Browser locale, such as `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Memory limit in MiB, where the session backend can enforce one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    /// CPU limit in cores, where the session backend can enforce one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f32>,
}

/// A viewport size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

impl SessionSpec {
    /// Check every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.timeout_secs
            && (t == 0 || t > MAX_TIMEOUT.as_secs())
        {
            return Err(Error::invalid_input(format!(
                "`timeout_secs` must be 1 to {}, got {t}",
                MAX_TIMEOUT.as_secs()
            )));
        }
        if self.max_tasks == Some(0) {
            return Err(Error::invalid_input("`max_tasks` must be at least 1"));
        }
        if let Some(v) = self.viewport
            && (!(100..=7680).contains(&v.width) || !(100..=4320).contains(&v.height))
        {
            return Err(Error::invalid_input(format!(
                "`viewport` must be 100-7680 wide and 100-4320 high, got {}x{}",
                v.width, v.height
            )));
        }
        if let Some(ua) = &self.user_agent
            && (ua.is_empty() || ua.len() > 512 || ua.chars().any(char::is_control))
        {
            return Err(Error::invalid_input("`user_agent` must be 1-512 printable characters"));
        }
        if let Some(locale) = &self.locale
            && (locale.is_empty()
                || locale.len() > 35
                || !locale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(Error::invalid_input(format!("`locale` `{locale}` is not a language tag like `en-US`")));
        }
        if self.memory_mb == Some(0) {
            return Err(Error::invalid_input("`memory_mb` must be at least 1"));
        }
        if self.cpus.is_some_and(|c| !(c > 0.0 && c <= 64.0)) {
            return Err(Error::invalid_input("`cpus` must be above 0 and at most 64"));
        }
        Ok(())
    }

    /// The session's lifetime.
    pub fn timeout(&self) -> Duration {
        self.timeout_secs.map_or(DEFAULT_TIMEOUT, Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (SessionSpec { timeout_secs: Some(0), ..Default::default() }, "timeout_secs"),
            (SessionSpec { max_tasks: Some(0), ..Default::default() }, "max_tasks"),
            (SessionSpec { viewport: Some(Viewport { width: 5, height: 600 }), ..Default::default() }, "viewport"),
            (SessionSpec { user_agent: Some("a\nb".into()), ..Default::default() }, "user_agent"),
            (SessionSpec { locale: Some("en US".into()), ..Default::default() }, "locale"),
            (SessionSpec { cpus: Some(0.0), ..Default::default() }, "cpus"),
        ];
        for (spec, field) in cases {
            let err = spec.validate().unwrap_err();
            assert!(err.message.contains(field), "{field}: {}", err.message);
        }
        assert!(SessionSpec::default().validate().is_ok());
        assert_eq!(SessionSpec::default().timeout(), DEFAULT_TIMEOUT);
    }
}
