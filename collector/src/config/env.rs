//! `SCHOOLNET_<SECTION>__<KEY>` environment overrides, applied to the parsed
//! TOML table before deserialization so they go through the same type checks.

use super::ConfigError;

const PREFIX: &str = "SCHOOLNET_";

/// Sets `table[section][key] = value` for every `SCHOOLNET_SECTION__KEY`.
/// Values are read as TOML scalars when they parse as one (`30`, `true`,
/// `1.5`), otherwise as strings. Variables without `__` (such as the secret
/// variables `SCHOOLNET_MQTT_PASSWORD`) are not overrides and are left alone.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
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
                        reason: format!("`{section}` is not a section"),
                    })
                }
            };
        }
        cursor.insert(path[path.len() - 1].clone(), scalar(&value));
    }
    Ok(())
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
