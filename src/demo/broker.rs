//! The demo's embedded MQTT broker (rumqttd), so `schoolnet demo` needs no
//! mosquitto. Sized small: the demo's memory budget is tens of megabytes.

use std::net::SocketAddr;

use anyhow::Context;

/// Starts rumqttd on `listen` (MQTT 3.1.1) in a background thread.
///
/// rumqttd binds inside its own thread and only logs a bind failure, so the
/// address is probed first to turn "port in use" into a clear error.
pub fn start(listen: SocketAddr) -> anyhow::Result<()> {
    std::net::TcpListener::bind(listen)
        .with_context(|| format!("--mqtt-listen {listen}: cannot listen (is another broker running? pick another address)"))?;
    let config_text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 1000
max_segment_size = 1048576
max_segment_count = 10

[v4.1]
name = "demo"
listen = "{listen}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 65536
    max_inflight_count = 1000
    dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&config_text).context("embedded broker config")?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .context("cannot start the embedded broker thread")?;
    Ok(())
}
