//! `SCHOOLNET_<SECTION>__<KEY>` environment overrides, applied to the parsed
//! TOML table before deserialization so they go through the same type
//! checks, and remembered ([`EnvOverrides`]) so that a bad value is blamed on
//! its variable, not on the file.

use std::collections::BTreeMap;

use super::ConfigError;

const PREFIX: &str = "SCHOOLNET_";

/// Which config keys the environment set, and by which variable:
/// `mqtt.url` → `SCHOOLNET_MQTT__URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    by_key: BTreeMap<String, String>,
}

impl EnvOverrides {
    /// The variable that set `key` (dotted, as in error messages:
    /// `exporter.stale_factor`), if any.
    pub fn var_for(&self, key: &str) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }

    /// The variable that set `key` or a key below it: an unknown section
    /// `mqqt` created by `SCHOOLNET_MQQT__URL` is that variable's fault.
    pub fn var_at_or_below(&self, key: &str) -> Option<&str> {
        self.var_for(key).or_else(|| {
            let prefix = format!("{key}.");
            self.by_key
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.as_str())
                .next()
        })
    }

    /// (key, variable) pairs, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_key.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Rewrites a check's error on a key the environment set so that it
    /// names the variable (`SCHOOLNET_INFLUX__URL`) instead of the key alone,
    /// which would send the operator looking in the file.
    pub fn blame(&self, e: ConfigError) -> ConfigError {
        match e {
            ConfigError::Invalid { key, reason } => match self.var_for(&key) {
                Some(var) => ConfigError::Env {
                    var: var.to_string(),
                    reason: format!("{reason} (it sets `{key}`)"),
                },
                None => ConfigError::Invalid { key, reason },
            },
            other => other,
        }
    }
}

/// Sets `table[section][key] = value` for every `SCHOOLNET_SECTION__KEY`.
/// Values are read as TOML scalars when they parse as one (`30`, `true`,
/// `1.5`), otherwise as strings. Variables without `__` (such as the secret
/// variables `SCHOOLNET_MQTT_PASSWORD`, or `SCHOOLNET_CONFIG`) are not
/// overrides and are left alone.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<EnvOverrides, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    let mut applied = EnvOverrides::default();
    for (var, value) in vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                reason: "empty key between `__` separators".into(),
            });
        }
        let mut cursor = &mut *table;
        for section in &path[..path.len() - 1] {
            let entry = cursor
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        reason: format!(
                            "`{section}` is not a section, so it has no key `{}`",
                            path[path.len() - 1]
                        ),
                    })
                }
            };
        }
        cursor.insert(path[path.len() - 1].clone(), scalar(&value));
        applied.by_key.insert(path.join("."), var);
    }
    Ok(applied)
}

fn scalar(text: &str) -> toml::Value {
    let wrapped = format!("v = {text}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
            ) => v,
            _ => toml::Value::String(text.to_string()),
        },
        Err(_) => toml::Value::String(text.to_string()),
    }
}
