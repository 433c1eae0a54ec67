//! Which schools a query is about and which `interface` rows are their WAN:
//! `--school` (with suggestions for an unknown id), `--district` (with the
//! list of districts for an unknown one) or every school of the inventory,
//! and the InfluxQL condition selecting the routers' WAN interfaces
//! (the inventory's `wan_interface` per router, default `wan`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use collector::inventory::{Inventory, Role, School};

use crate::influx_query::{quote_ident, quote_str};

/// The schools of a query.
#[derive(Debug, Clone)]
pub struct Scope {
    /// In inventory order.
    pub schools: Vec<Arc<School>>,
    /// `Some` for `--district` (as spelled in the inventory).
    pub district: Option<String>,
    /// InfluxQL condition on the `school`/`district` tag; empty for all.
    pub tag_filter: String,
}

impl Scope {
    pub fn school(inventory: &Inventory, wanted: &str) -> anyhow::Result<Scope> {
        let wanted = wanted.trim();
        let found = inventory.school(wanted).or_else(|| {
            inventory
                .schools()
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(wanted))
        });
        let Some(school) = found else {
            let near = near_ids(inventory, wanted, 5);
            if near.is_empty() {
                bail!("unknown school `{wanted}` (not in the inventory)");
            }
            bail!(
                "unknown school `{wanted}` (not in the inventory); did you mean {}?",
                near.join(", ")
            );
        };
        Ok(Scope {
            tag_filter: format!("\"school\" = {}", quote_str(&school.id)),
            schools: vec![school.clone()],
            district: None,
        })
    }

    pub fn district(inventory: &Inventory, wanted: &str) -> anyhow::Result<Scope> {
        let districts = inventory.districts();
        let Some(d) = districts
            .iter()
            .find(|d| d.eq_ignore_ascii_case(wanted.trim()))
        else {
            let known: Vec<&str> = districts.iter().map(|d| &**d).collect();
            bail!(
                "unknown district `{wanted}`; known districts: {}",
                known.join(", ")
            );
        };
        Ok(Scope {
            schools: inventory
                .schools()
                .iter()
                .filter(|s| s.district == *d)
                .cloned()
                .collect(),
            district: Some(d.to_string()),
            tag_filter: format!("\"district\" = {}", quote_str(d)),
        })
    }

    pub fn all(inventory: &Inventory) -> Scope {
        Scope {
            schools: inventory.schools().to_vec(),
            district: None,
            tag_filter: String::new(),
        }
    }

    /// `AND`-joined: the tag filter and `extra`.
    pub fn condition(&self, extra: &[&str]) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if !self.tag_filter.is_empty() {
            parts.push(&self.tag_filter);
        }
        parts.extend(extra.iter().filter(|p| !p.is_empty()));
        parts.join(" AND ")
    }
}

/// The WAN interfaces of a scope's routers.
#[derive(Debug, Clone)]
pub struct Wan {
    /// `device/interface` per school id.
    pub by_school: BTreeMap<String, Vec<String>>,
    /// Schools of the scope without a router in the inventory.
    pub without_router: Vec<String>,
    /// `"role" = 'router' AND (…)`: selects exactly those interfaces.
    pub condition: String,
}

/// Routers of the scope's schools and their `wan_interface` (default `wan`).
/// When every router uses the same name, the condition is just the
/// interface name (with the scope's tag filter that also keeps the history
/// of routers since replaced); otherwise one clause per name with its
/// devices.
pub fn wan(inventory: &Inventory, scope: &Scope) -> Wan {
    let mut by_school: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut without_router = Vec::new();
    for school in &scope.schools {
        let mut any = false;
        for d in inventory.devices_of(&school.id) {
            if d.role != Role::Router {
                continue;
            }
            let iface = d.wan_interface.as_deref().unwrap_or("wan").to_string();
            by_school
                .entry(school.id.to_string())
                .or_default()
                .push(format!("{}/{iface}", d.id));
            by_name.entry(iface).or_default().push(d.id.to_string());
            any = true;
        }
        if !any {
            without_router.push(school.id.to_string());
        }
    }
    let clauses: Vec<String> = if by_name.len() <= 1 {
        by_name
            .keys()
            .map(|name| format!("\"interface\" = {}", quote_str(name)))
            .collect()
    } else {
        by_name
            .iter()
            .map(|(name, devices)| {
                let alternatives: Vec<String> = devices.iter().map(|d| regex_escape(d)).collect();
                format!(
                    "(\"interface\" = {} AND \"device\" =~ /^(?:{})$/)",
                    quote_str(name),
                    alternatives.join("|")
                )
            })
            .collect()
    };
    let condition = match clauses.len() {
        // No router at all: a condition that matches nothing.
        0 => "\"role\" = 'router' AND \"interface\" = ''".to_string(),
        1 => format!("\"role\" = 'router' AND {}", clauses[0]),
        _ => format!("\"role\" = 'router' AND ({})", clauses.join(" OR ")),
    };
    Wan {
        by_school,
        without_router,
        condition,
    }
}

/// `rp."measurement"`, or just the measurement for the default policy.
pub fn from(retention_policy: &str, measurement: &str) -> String {
    if retention_policy.is_empty() {
        quote_ident(measurement)
    } else {
        format!(
            "{}.{}",
            quote_ident(retention_policy),
            quote_ident(measurement)
        )
    }
}

/// ASCII punctuation escaped for an InfluxQL `/regex/` (RE2 accepts `\` +
/// any punctuation), so device ids match literally.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Up to `max` inventory ids closest to `wanted` (edit distance ignoring
/// case, or the same number: `42` → `NX-042`).
fn near_ids(inventory: &Inventory, wanted: &str, max: usize) -> Vec<String> {
    let w = wanted.to_ascii_uppercase();
    let number = |s: &str| -> Option<u64> {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let wanted_number = number(&w);
    let mut scored: Vec<(usize, &str)> = inventory
        .schools()
        .iter()
        .map(|s| {
            let id = s.id.to_ascii_uppercase();
            let mut d = levenshtein(&w, &id);
            if wanted_number.is_some() && number(&id) == wanted_number {
                d = d.min(1);
            }
            (d, &*s.id)
        })
        .filter(|(d, _)| *d <= 3)
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(max)
        .map(|(_, id)| id.to_string())
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        simulator::sample_inventory().unwrap()
    }

    #[test]
    fn unknown_schools_get_suggestions_and_case_does_not_matter() {
        let inv = inv();
        assert_eq!(
            &*Scope::school(&inv, "nx-042").unwrap().schools[0].id,
            "NX-042"
        );
        let e = Scope::school(&inv, "NX-42").unwrap_err().to_string();
        assert!(
            e.contains("unknown school `NX-42`") && e.contains("NX-042"),
            "{e}"
        );
        let e = Scope::school(&inv, "zzzzzzzzzz").unwrap_err().to_string();
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn unknown_districts_list_the_known_ones() {
        let inv = inv();
        let s = Scope::district(&inv, "JULFA").unwrap();
        assert_eq!(s.district.as_deref(), Some("Julfa"));
        assert!(s.schools.iter().all(|s| &*s.district == "Julfa"));
        let e = Scope::district(&inv, "Atlantis").unwrap_err().to_string();
        assert!(e.contains("Babek, Julfa"), "{e}");
    }

    #[test]
    fn the_wan_condition_follows_the_inventory() {
        let inv = inv();
        let scope = Scope::school(&inv, "NX-001").unwrap();
        let w = wan(&inv, &scope);
        assert_eq!(w.condition, "\"role\" = 'router' AND \"interface\" = 'wan'");
        assert_eq!(w.by_school["NX-001"], vec!["rtr-nx-001/wan".to_string()]);
        assert_eq!(regex_escape("rtr-a.b/c"), "rtr\\-a\\.b\\/c");
        assert_eq!(levenshtein("NX-42", "NX-042"), 1);
    }

    #[test]
    fn routers_with_other_wan_names_are_listed_by_device() {
        let inv = Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\n\
             A,School A,D,0,0,100\nB,School B,D,0,0,100\nC,School C,D,0,0,100\n",
            "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
             r.a,A,router,10,,\nr-b,B,router,10,,eth0.2\nont-c,C,ont,30,,\n",
        )
        .unwrap();
        let w = wan(&inv, &Scope::district(&inv, "d").unwrap());
        assert_eq!(
            w.condition,
            "\"role\" = 'router' AND ((\"interface\" = 'eth0.2' AND \"device\" =~ /^(?:r\\-b)$/) \
             OR (\"interface\" = 'wan' AND \"device\" =~ /^(?:r\\.a)$/))"
        );
        assert_eq!(w.without_router, vec!["C".to_string()]);
    }
}
