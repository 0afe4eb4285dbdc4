//! `TESSERA_*` environment variables. Client scripts set their own, and the
//! project's tests and tools read others
//! (`TESSERA_SKIP_BROWSER`, ...): a variable that is not a configuration
//! key is left out with a warning instead of stopping the server. A typo
//! in a configuration *file* stays fatal; a file is only ever settings.

/// The variables that name the configuration's own inputs, not settings.
const NOT_SETTINGS: &[&str] = &[
    // The `--config` flag's variable: names the file.
    "TESSERA_CONFIG",
    // The CLI's `--url` flag's variable: names a running server.
    "TESSERA_URL",
];

/// The `TESSERA_*` variables among `vars` that are configuration keys, and
/// the names of those that are not (to warn about).
pub(super) fn split(
    vars: impl IntoIterator<Item = (String, String)>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut keys = Vec::new();
    let mut ignored = Vec::new();
    for (k, v) in vars {
        if !k.to_ascii_uppercase().starts_with("TESSERA_") || NOT_SETTINGS.contains(&k.as_str()) {
            continue;
        }
        if is_key(&k, &v) {
            keys.push((k, v));
        } else {
            ignored.push(k);
        }
    }
    ignored.sort();
    (keys, ignored)
}

/// The `TESSERA_*` source of the settings, over exactly `vars`.
pub(super) fn source(vars: Vec<(String, String)>) -> config::Environment {
    config::Environment::with_prefix("TESSERA")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .source(Some(vars.into_iter().collect()))
}

/// Whether the variable alone names a setting. It does unless the settings
/// refuse it as an unknown field, or it names a whole section (`TESSERA_LOG`)
/// and so cannot hold a value. A bad *value* of a real key stays a key: the
/// full load then refuses it with the setting's name.
fn is_key(k: &str, v: &str) -> bool {
    let built = config::Config::builder()
        .add_source(source(vec![(k.to_string(), v.to_string())]))
        .build()
        .and_then(|c| c.try_deserialize::<super::Settings>());
    match built {
        Ok(_) => true,
        Err(e) => {
            let m = e.to_string();
            !(m.contains("unknown field")
                || m.contains("expected a map")
                || m.contains("expected struct")
                || m.contains("expected map"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_pass_and_strangers_are_named() {
        let (keys, ignored) = split(vars(&[
            ("TESSERA_URL", "http://localhost:8080"),
            ("TESSERA_SCRIPT_HOST", "http://localhost:8080"),
            ("TESSERA_TOKENS__ACCESS_TOKEN_TTL", "600"),
            ("TESSERA_ADMIN_TOKEN", "x"),
            ("TESSERA_LOG", "debug"),
            ("TESSERA_TOKENS__BOGUS", "1"),
            ("TESSERA_CONFIG", "/etc/tessera.toml"),
            ("TESSERA_FEDERATION__PROVIDERS__CORP__CLIENT_SECRET", "s"),
            ("TESSERA_TLS__CERT_FILE", "/etc/tessera/cert.pem"),
            ("TESSERA_TLS__RELOAD_INTERVAL", "30"),
            ("TESSERA_TLS__BOGUS", "1"),
            ("PATH", "/bin"),
        ]));
        let keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "TESSERA_TOKENS__ACCESS_TOKEN_TTL",
                "TESSERA_ADMIN_TOKEN",
                "TESSERA_FEDERATION__PROVIDERS__CORP__CLIENT_SECRET",
                "TESSERA_TLS__CERT_FILE",
                "TESSERA_TLS__RELOAD_INTERVAL"
            ]
        );
        assert_eq!(
            ignored,
            [
                "TESSERA_LOG",
                "TESSERA_SCRIPT_HOST",
                "TESSERA_TLS__BOGUS",
                "TESSERA_TOKENS__BOGUS"
            ]
        );
    }

    #[test]
    fn a_bad_value_of_a_key_is_still_a_key() {
        let (keys, ignored) = split(vars(&[("TESSERA_TOKENS__ACCESS_TOKEN_TTL", "soon")]));
        assert_eq!(keys.len(), 1);
        assert!(ignored.is_empty());
    }
}
