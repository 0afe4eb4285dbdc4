//! `[console]`: the admin console's own sessions (`/admin/console`).
//!
//! - `idle_timeout`: seconds without a console request after which the
//!   console session ends (default 900).
//! - `absolute_lifetime`: seconds after sign-in after which it ends
//!   whatever the activity (default 28800, eight hours).
//!
//! A console session is also a browser session of the server, so the
//! shorter of these and `[sessions]`' limits applies.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    pub idle_timeout: i64,
    pub absolute_lifetime: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            idle_timeout: 900,
            absolute_lifetime: 28_800,
        }
    }
}

impl ConsoleSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (60..=86_400).contains(&self.idle_timeout),
            "console.idle_timeout must be between 60 and 86400 seconds"
        );
        anyhow::ensure!(
            (self.idle_timeout..=604_800).contains(&self.absolute_lifetime),
            "console.absolute_lifetime must be at least console.idle_timeout and at most 604800 seconds"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ConsoleSettings;

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        assert!(ConsoleSettings::default().validate().is_ok());
        let short = ConsoleSettings {
            idle_timeout: 10,
            ..Default::default()
        };
        assert!(short.validate().is_err());
        let inverted = ConsoleSettings {
            idle_timeout: 3600,
            absolute_lifetime: 600,
        };
        assert!(inverted.validate().is_err());
    }
}
