//! CSV loading and validation for the inventory.
//!
//! `schools.csv`: `school_id,name,district,lat,lon,uplink_mbps`
//! `devices.csv`: `device_id,school_id,role,expected_interval_s,parent[,wan_interface][,counter_bits]`
//! Lines starting with `#` are comments. Every error names file, line and column.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{DeviceInfo, Inventory, Role, School};
use crate::sample::CounterWidth;

/// Why an inventory could not be loaded. Always names the file and, for
/// content errors, the 1-based line and the column.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: column `{column}`: {reason}")]
    Invalid {
        path: PathBuf,
        line: u64,
        column: &'static str,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

const SCHOOL_COLUMNS: [&str; 6] = ["school_id", "name", "district", "lat", "lon", "uplink_mbps"];
const DEVICE_COLUMNS: [&str; 5] = [
    "device_id",
    "school_id",
    "role",
    "expected_interval_s",
    "parent",
];

impl Inventory {
    /// Loads and cross-checks `schools.csv` and `devices.csv`.
    pub fn load(schools_path: &Path, devices_path: &Path) -> Result<Inventory, InventoryError> {
        let schools = read_csv(schools_path, &SCHOOL_COLUMNS)?;
        let devices = read_csv(devices_path, &DEVICE_COLUMNS)?;
        Inventory::from_rows(schools_path, &schools, devices_path, &devices)
    }

    /// Parses inventory CSV text held in memory (the embedded sample, tests).
    pub fn from_csv_text(
        schools_csv: &str,
        devices_csv: &str,
    ) -> Result<Inventory, InventoryError> {
        let sp = Path::new("schools.csv");
        let dp = Path::new("devices.csv");
        let schools = parse_csv(sp, schools_csv.as_bytes(), &SCHOOL_COLUMNS)?;
        let devices = parse_csv(dp, devices_csv.as_bytes(), &DEVICE_COLUMNS)?;
        Inventory::from_rows(sp, &schools, dp, &devices)
    }

    fn from_rows(
        sp: &Path,
        school_rows: &[Row],
        dp: &Path,
        device_rows: &[Row],
    ) -> Result<Inventory, InventoryError> {
        let mut schools = Vec::with_capacity(school_rows.len());
        let mut seen = HashSet::new();
        for row in school_rows {
            let id = row.text(sp, "school_id")?;
            if !seen.insert(id.to_string()) {
                return Err(row.invalid(sp, "school_id", format!("duplicate school id `{id}`")));
            }
            let lat = row.number(sp, "lat")?;
            let lon = row.number(sp, "lon")?;
            if !(-90.0..=90.0).contains(&lat) {
                return Err(row.invalid(sp, "lat", format!("{lat} is not a latitude (-90..90)")));
            }
            if !(-180.0..=180.0).contains(&lon) {
                return Err(row.invalid(
                    sp,
                    "lon",
                    format!("{lon} is not a longitude (-180..180)"),
                ));
            }
            let uplink_mbps = row.number(sp, "uplink_mbps")?;
            if uplink_mbps <= 0.0 {
                return Err(row.invalid(
                    sp,
                    "uplink_mbps",
                    "must be a positive number of Mbit/s".into(),
                ));
            }
            schools.push(School {
                id: id.into(),
                name: row.text(sp, "name")?.into(),
                district: row.text(sp, "district")?.into(),
                lat,
                lon,
                uplink_mbps,
            });
        }
        let by_id: std::collections::HashMap<&str, &School> =
            schools.iter().map(|s| (&*s.id, s)).collect();

        let mut devices = Vec::with_capacity(device_rows.len());
        let mut device_ids = HashSet::new();
        for row in device_rows {
            let id = row.text(dp, "device_id")?;
            if !device_ids.insert(id.to_string()) {
                return Err(row.invalid(dp, "device_id", format!("duplicate device id `{id}`")));
            }
            let school_id = row.text(dp, "school_id")?;
            let school = by_id.get(school_id).ok_or_else(|| {
                row.invalid(
                    dp,
                    "school_id",
                    format!("school `{school_id}` is not in {}", sp.display()),
                )
            })?;
            let role_text = row.text(dp, "role")?;
            let role = Role::parse(role_text).ok_or_else(|| {
                row.invalid(
                    dp,
                    "role",
                    format!("`{role_text}` is not one of router, ont, olt, switch, ap"),
                )
            })?;
            let interval = row.number(dp, "expected_interval_s")?;
            if interval <= 0.0 || interval > 86_400.0 {
                return Err(row.invalid(
                    dp,
                    "expected_interval_s",
                    "must be between 0 and 86400 seconds".into(),
                ));
            }
            let parent = row.optional("parent").map(Arc::<str>::from);
            let wan_interface = row.optional("wan_interface").map(Arc::<str>::from);
            let counter_width = match row.optional("counter_bits") {
                None => None,
                Some("32") => Some(CounterWidth::Bits32),
                Some("64") => Some(CounterWidth::Bits64),
                Some(other) => {
                    return Err(row.invalid(
                        dp,
                        "counter_bits",
                        format!("`{other}`: must be 32, 64 or empty"),
                    ))
                }
            };
            devices.push((
                row.line,
                DeviceInfo {
                    id: id.into(),
                    school: Arc::new((*school).clone()),
                    role,
                    expected_interval: Duration::from_secs_f64(interval),
                    parent,
                    wan_interface,
                    counter_width,
                },
            ));
        }
        for (line, d) in &devices {
            if let Some(p) = &d.parent {
                if !device_ids.contains(&**p) {
                    return Err(InventoryError::Invalid {
                        path: dp.to_path_buf(),
                        line: *line,
                        column: "parent",
                        reason: format!("parent device `{p}` is not in {}", dp.display()),
                    });
                }
            }
        }
        let mut inv = Inventory::from_parts(schools, devices.into_iter().map(|(_, d)| d).collect());
        // Share one Arc<School> per school between the school list and its devices.
        let shared = inv.schools.clone();
        for d in &mut inv.devices {
            let idx = inv.school_index[&d.school.id];
            let mut info = (**d).clone();
            info.school = shared[idx].clone();
            *d = Arc::new(info);
        }
        Ok(inv)
    }
}

/// One data row with its 1-based line number and header-indexed cells.
struct Row {
    line: u64,
    headers: Arc<Vec<String>>,
    cells: Vec<String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        let i = self.headers.iter().position(|h| h == column)?;
        self.cells.get(i).map(|s| s.trim())
    }

    fn text(&self, path: &Path, column: &'static str) -> Result<&str, InventoryError> {
        match self.get(column) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.invalid(path, column, "is empty".into())),
        }
    }

    fn optional(&self, column: &str) -> Option<&str> {
        self.get(column).filter(|v| !v.is_empty())
    }

    fn number(&self, path: &Path, column: &'static str) -> Result<f64, InventoryError> {
        let v = self.text(path, column)?;
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(self.invalid(path, column, format!("`{v}` is not a number"))),
        }
    }

    fn invalid(&self, path: &Path, column: &'static str, reason: String) -> InventoryError {
        InventoryError::Invalid {
            path: path.to_path_buf(),
            line: self.line,
            column,
            reason,
        }
    }
}

fn read_csv(path: &Path, required: &[&str]) -> Result<Vec<Row>, InventoryError> {
    let bytes = std::fs::read(path).map_err(|source| InventoryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(path, &bytes, required)
}

fn parse_csv(path: &Path, bytes: &[u8], required: &[&str]) -> Result<Vec<Row>, InventoryError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| InventoryError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for col in required {
        if !headers.iter().any(|h| h == col) {
            return Err(InventoryError::Malformed {
                path: path.to_path_buf(),
                reason: format!(
                    "missing column `{col}` in header (expected {})",
                    required.join(",")
                ),
            });
        }
    }
    let headers = Arc::new(headers);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| InventoryError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        rows.push(Row {
            line,
            headers: headers.clone(),
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
        # synthetic\n\
        NX-001,School One,Babek,39.2,45.4,100\n\
        NX-002,School Two,Julfa,38.9,45.6,50\n";
    const DEVICES: &str = "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
        olt-babek,NX-001,olt,10,,\n\
        ont-001,NX-001,ont,10,olt-babek,\n\
        rtr-001,NX-001,router,10,ont-001,wan\n\
        rtr-002,NX-002,router,10,,eth0.2\n";

    #[test]
    fn loads_and_joins() {
        let inv = Inventory::from_csv_text(SCHOOLS, DEVICES).unwrap();
        assert_eq!(inv.schools().len(), 2);
        let r = inv.device("rtr-001").unwrap();
        assert_eq!(r.school_id(), "NX-001");
        assert_eq!(r.district(), "Babek");
        assert_eq!(r.role, Role::Router);
        assert_eq!(r.wan_interface.as_deref(), Some("wan"));
        assert!(Arc::ptr_eq(&r.school, inv.school("NX-001").unwrap()));
        assert_eq!(inv.devices_of("NX-001").count(), 3);
        assert_eq!(inv.districts().len(), 2);
    }

    #[test]
    fn errors_name_line_and_column() {
        let bad = DEVICES.replace("rtr-002,NX-002,router", "rtr-002,NX-002,modem");
        let err = Inventory::from_csv_text(SCHOOLS, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("devices.csv:5"), "{err}");
        assert!(err.contains("`role`"), "{err}");
        assert!(err.contains("modem"), "{err}");

        let bad = DEVICES.replace("olt-babek,\n", "olt-nowhere,\n");
        let err = Inventory::from_csv_text(SCHOOLS, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("parent"), "{err}");

        let bad = SCHOOLS.replace("38.9", "north");
        let err = Inventory::from_csv_text(&bad, DEVICES)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("schools.csv:4") && err.contains("`lat`"),
            "{err}"
        );

        let bad = DEVICES.replace("rtr-002,NX-002", "rtr-002,NX-999");
        let err = Inventory::from_csv_text(SCHOOLS, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NX-999"), "{err}");
    }

    #[test]
    fn missing_column_is_reported() {
        let err = Inventory::from_csv_text("school_id,name\nA,B\n", DEVICES)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing column `district`"), "{err}");
    }
}
