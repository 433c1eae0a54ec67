
// The status page's script, part 2 of 2: the map and the device detail
// (see status.js).
// ------------------------------------------------------------ map

// A plain projection: x = lon · cos(mean latitude), y = −lat, so a region
// keeps its shape; no tiles, no network. One path per state, a zero-length
// segment with round caps per school: 30,000 schools are four elements.
function project(s) {
  return [(s.lon * projection.kx).toFixed(4), (-s.lat).toFixed(4)];
}

function setProjection() {
  const located = schools.filter((s) => Number.isFinite(s.lat) && Number.isFinite(s.lon));
  if (located.length === 0) {
    projection = null;
    return;
  }
  const mean = located.reduce((sum, s) => sum + s.lat, 0) / located.length;
  projection = { kx: Math.cos(mean * Math.PI / 180) };
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const s of located) {
    const [x, y] = project(s).map(Number);
    x0 = Math.min(x0, x); x1 = Math.max(x1, x);
    y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const pad = Math.max(x1 - x0, y1 - y0, 0.01) * 0.04;
  const map = document.getElementById("map");
  map.setAttribute("viewBox", [x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad].map((n) => n.toFixed(4)).join(" "));
  map.dataset.kx = projection.kx;
}

function renderMap(list, selectedId) {
  const map = document.getElementById("map");
  map.replaceChildren();
  drawn = [];
  if (!projection) return;
  const parts = Object.fromEntries(STATES.map((s) => [s, []]));
  for (const s of list) {
    if (!Number.isFinite(s.lat) || !Number.isFinite(s.lon)) continue;
    const [x, y] = project(s);
    parts[s.state].push("M" + x + " " + y + "h0");
    drawn.push(s);
  }
  const selected = selectedId === null ? null : schools.find((s) => s.id === selectedId);
  for (const state of MAP_ORDER) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("class", state);
    path.dataset.state = state;
    path.dataset.count = parts[state].length;
    path.setAttribute("d", parts[state].join(""));
    map.appendChild(path);
  }
  if (selected && Number.isFinite(selected.lat)) {
    const [x, y] = project(selected);
    const ring = document.createElementNS(SVG, "path");
    ring.setAttribute("class", "selected");
    ring.setAttribute("d", "M" + x + " " + y + "h0");
    map.appendChild(ring);
  }
}

// The school nearest to a click, if within a few pixels of its dot.
function onMapClick(event) {
  const map = document.getElementById("map");
  const ctm = map.getScreenCTM();
  if (!ctm || drawn.length === 0) return;
  let best = null;
  let bestDistance = 12 * 12;
  for (const s of drawn) {
    const [x, y] = project(s).map(Number);
    const dx = ctm.a * x + ctm.c * y + ctm.e - event.clientX;
    const dy = ctm.b * x + ctm.d * y + ctm.f - event.clientY;
    const d = dx * dx + dy * dy;
    // Problems win ties: they are drawn on top.
    if (d < bestDistance || (d === bestDistance && s.state !== "up")) {
      best = s;
      bestDistance = d;
    }
  }
  if (best) location.hash = detailHref(best.id);
}

// ------------------------------------------------------------ detail

async function renderDetail() {
  const id = view().school;
  const detail = document.getElementById("detail");
  if (id === null) {
    detail.hidden = true;
    detail.replaceChildren();
    delete detail.dataset.school;
    return;
  }
  let school;
  try {
    const response = await fetch("api/schools/" + encodeURIComponent(id), { cache: "no-store" });
    if (response.status === 404) throw new Error("no school " + id + " in the inventory");
    if (!response.ok) throw new Error("HTTP " + response.status);
    school = await response.json();
  } catch (e) {
    detail.replaceChildren(el("p", "error", id + ": " + e.message));
    detail.hidden = false;
    return;
  }
  if (view().school !== id) return; // another school was picked meanwhile
  const close = el("a", "close", "close ×");
  close.href = "#";
  const h = el("h2", null, school.name + " ");
  h.appendChild(el("small", null, school.id + ", " + school.district));
  const state = el("p", "tile " + school.state, why(school) || "up");
  state.dataset.state = school.state;
  const facts = el("p", null, "last seen " + ago(school.last_seen) + " · " + school.uplink_mbps + " Mbit/s uplink · "
    + school.lat + ", " + school.lon);
  const children = [close, h, state, facts];
  if (grafanaUrl) {
    const g = el("a", "grafana", "Grafana dashboard of " + school.id);
    g.href = grafanaLink(school.id);
    g.target = "_blank";
    g.rel = "noopener";
    const line = el("p");
    line.appendChild(g);
    children.push(line);
  }
  const table = el("table");
  const head = el("tr");
  for (const c of ["device", "role", "state", "last seen"]) head.appendChild(el("th", null, c));
  table.appendChild(head);
  for (const d of school.devices) {
    const row = el("tr");
    row.dataset.device = d.id;
    row.dataset.state = d.state;
    if (d.cause) row.dataset.cause = d.cause;
    row.appendChild(el("td", null, d.id));
    row.appendChild(el("td", null, d.role));
    row.appendChild(el("td", d.state, d.state + (d.cause ? ", " + d.cause : "")));
    row.appendChild(el("td", null, ago(d.last_seen)));
    table.appendChild(row);
  }
  children.push(table);
  detail.replaceChildren(...children);
  detail.dataset.school = school.id;
  detail.hidden = false;
}

