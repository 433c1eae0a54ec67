//! Test fixtures shared by the sink's unit tests.

use std::sync::Arc;
use std::time::Duration;

use crate::inventory::{DeviceInfo, Role, School};
use crate::sample::{Field, FieldValue, Measurement, Sample};

pub fn device(id: &str, school: &str, district: &str, role: Role) -> Arc<DeviceInfo> {
    Arc::new(DeviceInfo {
        id: id.into(),
        school: Arc::new(School {
            id: school.into(),
            name: "Test school".into(),
            district: district.into(),
            lat: 39.2,
            lon: 45.4,
            uplink_mbps: 100.0,
        }),
        role,
        expected_interval: Duration::from_secs(10),
        parent: None,
        wan_interface: None,
        counter_width: None,
    })
}

/// A `clients` sample with one field, for tests that only count lines.
pub fn clients(school: &str, wifi_clients: f64, time_ns: i64) -> Sample {
    Sample {
        measurement: Measurement::Clients,
        time_ns,
        device: device("r1", school, "D", Role::Router),
        key: None,
        fields: vec![(Field::WifiClients, FieldValue::Float(wifi_clients))],
    }
}
