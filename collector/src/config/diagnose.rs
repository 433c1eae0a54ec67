//! Deserializing the merged config (file + environment overrides) with an
//! error an operator can act on: the full key (`routes[1].pattern`), where
//! it is (file, line, column), the nearest known key for a misspelt one, and
//! the environment variable when the environment set the bad value.
//!
//! The merged table has no positions, so the key path comes from
//! `serde_path_to_error` and the position from deserializing the file's own
//! text again (only on the error path): toml keeps spans there.

use std::path::Path;

use super::{Config, ConfigError, EnvOverrides};

/// `table` → [`Config`]; on error, the most precise [`ConfigError`] there is.
pub(super) fn deserialize(
    path: &Path,
    text: &str,
    table: toml::Table,
    overrides: &EnvOverrides,
) -> Result<Config, ConfigError> {
    let err = match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table)) {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    let at = match err.path().to_string() {
        root if root == "." => String::new(),
        p => p,
    };
    let message = err.into_inner().message().to_string();
    let unknown = unknown_field(&message);
    // serde_path_to_error's path already ends with an unknown key.
    let key = match &unknown {
        Some((field, _)) if at.is_empty() => field.clone(),
        Some((field, _)) if key_name(&at) != *field => format!("{at}.{field}"),
        _ => at,
    };
    let env_var = if unknown.is_some() {
        overrides.var_at_or_below(&key)
    } else {
        overrides.var_for(&key)
    };
    if let Some(var) = env_var {
        let reason = match &unknown {
            Some((_, expected)) => format!(
                "unknown key `{key}`{}",
                suggestion(&key_name(&key), expected)
            ),
            None => format!("`{key}`: {message}"),
        };
        return Err(ConfigError::Env {
            var: var.to_string(),
            reason,
        });
    }
    // The file is at fault: find the place in its text (not for a missing
    // top-level section, which has none: toml would say line 1).
    let located = match toml::from_str::<Config>(text) {
        Err(e) if e.message() == message && !key.is_empty() => {
            e.span().map(|s| line_column(text, s.start))
        }
        _ => None,
    };
    Err(match (unknown, located) {
        (Some((field, expected)), Some((line, column))) => ConfigError::UnknownKey {
            key,
            path: path.to_path_buf(),
            line,
            column,
            hint: suggestion(&field, &expected),
        },
        (_, Some((line, column))) => ConfigError::At {
            path: path.to_path_buf(),
            line,
            column,
            message: if key.is_empty() {
                message
            } else {
                format!("`{key}`: {message}")
            },
        },
        (_, None) => ConfigError::Syntax {
            path: path.to_path_buf(),
            message: if key.is_empty() {
                message
            } else {
                format!("`{key}`: {message}")
            },
        },
    })
}

/// A TOML syntax error, with its line and column when toml gives a span.
pub(super) fn syntax(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            ConfigError::At {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim_end().to_string(),
            }
        }
        None => ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// serde's `unknown field `x`, expected one of `a`, `b`` (or `expected `a``,
/// `expected `a` or `b``, `there are no fields`) → (`x`, [a, b]).
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), expected))
}

/// The last segment of a dotted key: `exporter.stale_facter` → `stale_facter`.
fn key_name(key: &str) -> String {
    key.rsplit('.').next().unwrap_or(key).to_string()
}

/// `, did you mean `stale_factor`?` for the closest known key, else the
/// list of keys the section has.
fn suggestion(unknown: &str, known: &[String]) -> String {
    let nearest = known
        .iter()
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2 || *d * 3 <= k.chars().count().max(unknown.chars().count()))
        .min();
    match nearest {
        Some((_, k)) => format!(", did you mean `{k}`?"),
        None if known.is_empty() => String::new(),
        None => format!(
            " (known keys here: {})",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\n[b]\n  cc = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.find("cc").unwrap()), (3, 3));
    }

    #[test]
    fn serde_unknown_field_messages_are_read() {
        let (f, e) =
            unknown_field("unknown field `urll`, expected one of `url`, `qos`, `client_id`")
                .unwrap();
        assert_eq!(f, "urll");
        assert_eq!(e, ["url", "qos", "client_id"]);
        let (_, e) = unknown_field("unknown field `x`, expected `a` or `b`").unwrap();
        assert_eq!(e, ["a", "b"]);
        let (_, e) = unknown_field("unknown field `x`, there are no fields").unwrap();
        assert!(e.is_empty());
        assert!(unknown_field("invalid type: string").is_none());
    }

    #[test]
    fn the_nearest_key_is_suggested_only_when_near() {
        let known: Vec<String> = ["listen", "stale_factor", "dead_letters"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            suggestion("stale_facter", &known),
            ", did you mean `stale_factor`?"
        );
        assert_eq!(suggestion("lisen", &known), ", did you mean `listen`?");
        let far = suggestion("colour", &known);
        assert!(far.starts_with(" (known keys here: `listen`"), "{far}");
    }
}
