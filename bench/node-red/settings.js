// Node-RED settings for schoolnet's load harness (schoolnet-load --peer
// node-red). Everything comes from the environment the harness sets:
//   NODE_RED_PORT        HTTP port (the /bench/count endpoint; the editor is off)
//   SCHOOLNET_INVENTORY  directory with schools.csv and devices.csv
//   MQTT_PORT, MQTT_QOS  used by flow.json (${...} substitution)
//   DB_PORT, DB_NAME     used by flow.json
// The inventory is parsed once here into global context
// (schoolnetInventory = { devices: {id: {school, role}}, schools: {id: {district}} }),
// as a flow would load a lookup table at start.
const fs = require("fs");
const path = require("path");

function csvRows(file) {
  const rows = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const cells = [];
    let cur = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
        else if (c === '"') quoted = false;
        else cur += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { cells.push(cur); cur = ""; }
      else cur += c;
    }
    cells.push(cur.replace(/\r$/, ""));
    rows.push(cells);
  }
  const header = rows.shift();
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

function loadInventory(dir) {
  const devices = {}, schools = {};
  for (const s of csvRows(path.join(dir, "schools.csv"))) schools[s.school_id] = { district: s.district, name: s.name };
  for (const d of csvRows(path.join(dir, "devices.csv"))) devices[d.device_id] = { school: d.school_id, role: d.role };
  return { devices, schools };
}

module.exports = {
  uiHost: "127.0.0.1",
  uiPort: Number(process.env.NODE_RED_PORT || 1880),
  flowFile: "flows.json",
  credentialSecret: false,
  // No editor or admin API: the flow is deployed from flows.json.
  httpAdminRoot: false,
  httpNodeRoot: "/",
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  logging: { console: { level: "warn", metrics: false, audit: false } },
  functionGlobalContext: { schoolnetInventory: loadInventory(process.env.SCHOOLNET_INVENTORY) },
};
