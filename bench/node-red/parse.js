// Node-RED function node "parse, map to school, batch" of the schoolnet load
// harness's peer flow (flow.json; the harness inserts this file as the
// node's code). The same job as `schoolnet run`, the way a Node-RED user
// would write it: parse the five payload formats the simulator publishes,
// map device -> school/district from the inventory CSV (loaded by
// settings.js into global context), map to schoolnet's measurements and
// field names, and hand points to the "influx batch" node in batches of up
// to 1000 points or 1 s. It does less than the collector: no counter
// wrap/reset handling or rates from raw counters, no limits, no dead
// letters, no live state.
const inv = global.get("schoolnetInventory");
global.set("processed", (global.get("processed") || 0) + 1);

const parts = msg.topic.split("/");
const device = parts[1];
const dev = inv.devices[device];
if (!dev) {
  global.set("rejected", (global.get("rejected") || 0) + 1);
  return null;
}
const school = inv.schools[dev.school] || {};
const tags = { school: dev.school, district: school.district || "", device: device, role: dev.role };
const now = Date.now();
const points = [];
const point = (measurement, fields, time, extra) => {
  points.push({ measurement: measurement, tags: extra ? Object.assign({}, tags, extra) : tags, fields: fields, timestamp: time });
};
const text = typeof msg.payload === "string" ? msg.payload : String(msg.payload);

function lineProtocol(line) {
  // measurement,tag=v,... field=v,... ts(ns); the simulator sends no escapes.
  const [head, fieldText, ts] = line.trim().split(" ");
  const [name, ...tagParts] = head.split(",");
  const t = {};
  for (const kv of tagParts) { const i = kv.indexOf("="); t[kv.slice(0, i)] = kv.slice(i + 1); }
  const f = {};
  for (const kv of fieldText.split(",")) {
    const i = kv.indexOf("=");
    const v = kv.slice(i + 1);
    f[kv.slice(0, i)] = v.endsWith("i") ? parseInt(v, 10) : parseFloat(v);
  }
  return { name: name, tags: t, fields: f, time: ts ? Math.floor(Number(ts) / 1e6) : now };
}

function uptime(s) {
  // MikroTik "4d22:16:08" or "22:16:08"
  const m = /^(?:(\d+)d)?(\d+):(\d+):(\d+)$/.exec(s);
  return m ? (+(m[1] || 0)) * 86400 + (+m[2]) * 3600 + (+m[3]) * 60 + (+m[4]) : NaN;
}

switch (parts[0]) {
  case "collectd": {
    const p = text.replace(/\0$/, "").split(":");
    const time = Math.round(parseFloat(p[0]) * 1000);
    const v = p.slice(1).map(Number);
    const plugin = parts[2], type = parts[3];
    if (plugin.startsWith("interface-") && type === "if_octets") {
      point("interface", { rx_bps: v[0] * 8, tx_bps: v[1] * 8 }, time, { interface: plugin.slice(10) });
    } else if (plugin === "load") point("system", { load1: v[0] }, time);
    else if (plugin === "memory") point("system", { mem_used_bytes: v[0] }, time);
    else if (plugin === "cpu") point("system", { cpu_ratio: v[0] / 100 }, time);
    else if (plugin === "uptime") point("system", { uptime_s: v[0] }, time);
    else if (plugin === "ping" && type.startsWith("ping_droprate-")) point("probe", { loss_ratio: v[0] }, time, { target: type.slice(14) });
    else if (plugin === "ping" && type.startsWith("ping-")) point("probe", { rtt_s: v[0] / 1000 }, time, { target: type.slice(5) });
    else if (plugin.startsWith("iwinfo-")) point("clients", { wifi_clients: v[0] }, time);
    else if (plugin === "dhcpleases") point("clients", { dhcp_leases: v[0] }, time);
    break;
  }
  case "telegraf": {
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const m = lineProtocol(line);
      const f = m.fields;
      if (m.name === "net") {
        point("interface", { rx_bytes: f.bytes_recv, tx_bytes: f.bytes_sent, rx_packets: f.packets_recv, tx_packets: f.packets_sent,
          rx_errors: f.err_in, tx_errors: f.err_out, rx_drops: f.drop_in, tx_drops: f.drop_out }, m.time, { interface: m.tags.interface || "" });
      } else if (m.name === "ping") {
        point("probe", { rtt_s: f.average_response_ms / 1000, loss_ratio: f.percent_packet_loss / 100 }, m.time, { target: m.tags.url || "" });
      } else if (m.name === "system") {
        point("system", { load1: f.load1, uptime_s: f.uptime }, m.time);
      } else if (m.name === "mem") {
        point("system", { mem_used_bytes: f.used, mem_total_bytes: f.total }, m.time);
      } else if (m.name === "cpu") {
        point("system", { cpu_ratio: 1 - f.usage_idle / 100 }, m.time);
      } else if (m.name === "clients") {
        point("clients", f, m.time);
      }
    }
    break;
  }
  case "ont": {
    const j = JSON.parse(text);
    point("optical", { rx_dbm: parseFloat(j.rxpower), tx_dbm: parseFloat(j.txpower), temperature_c: parseFloat(j.temperature),
      voltage_v: parseFloat(j.voltage), bias_ma: parseFloat(j.bcurr) }, j.ts ? Number(j.ts) : now);
    break;
  }
  case "mikrotik": {
    const j = JSON.parse(text);
    point("system", { uptime_s: uptime(j.uptime), cpu_ratio: parseFloat(j["cpu-load"]) / 100, mem_used_bytes: parseFloat(j["used-memory"]),
      mem_total_bytes: parseFloat(j["total-memory"]), temperature_c: parseFloat(j.temperature) }, j.ts ? Number(j.ts) : now);
    break;
  }
  case "probe":
    point("probe", { rtt_s: parseFloat(text) / 1000 }, now, { target: parts[2] });
    break;
  case "tele":
    flow.set("status_" + device, text.trim());
    break;
}

// Drop non-finite fields (InfluxDB refuses NaN), then batch.
for (const p of points) {
  for (const k of Object.keys(p.fields)) if (!Number.isFinite(p.fields[k])) delete p.fields[k];
}
let batch = context.get("batch") || [];
for (const p of points) if (Object.keys(p.fields).length) batch.push(p);
const flush = () => {
  const b = context.get("batch") || [];
  context.set("batch", []);
  if (b.length) node.send({ payload: b });
};
context.set("batch", batch);
if (batch.length >= 1000) {
  flush();
} else if (batch.length && !context.get("timer")) {
  context.set("timer", setTimeout(() => { context.set("timer", null); flush(); }, 1000));
}
return null;
