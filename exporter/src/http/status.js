// The status page's script, part 1 of 2: view state, list, chips, data.
// page.rs joins status.html (markup and style), this file, status_map.js
// and the closing tags into one page; a browser sees one inline script.
"use strict";

// Problems first: the order of the list, of the chips and of the counts.
const STATES = ["down", "degraded", "unknown", "up"];
// Up is drawn first, so problems are on top of it on the map.
const MAP_ORDER = ["up", "unknown", "degraded", "down"];
const REFRESH_MS = 5000;
// More problem tiles than a wall can show would only slow the page down at
// tens of thousands of schools; the chips and the filter narrow the rest.
const MAX_PROBLEM_TILES = 500;
const SVG = "http://www.w3.org/2000/svg";

let schools = [];          // {id, name, district, lat, lon, state, cause, duration_s, text}
let districts = [];        // inventory order
let grafanaUrl = null;
let projection = null;     // {kx} for the map, from all schools' coordinates
let drawn = [];            // schools on the map now, for clicks
const openDistricts = new Set();
let contentMarked = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// "4m 12s": the two largest units, enough to tell a blip from a long outage.
function duration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= size || (unit === "s" && parts.length === 0)) {
      parts.push(Math.floor(s / size) + unit);
      s %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

function ago(unixSeconds) {
  return unixSeconds === null ? "never" : duration(Date.now() / 1000 - unixSeconds) + " ago";
}

// Why a school is not green: "down 4m 12s, stale". Durations come from the
// exporter's clock (`duration_s`), not the browser's.
function why(school) {
  if (school.state === "up") return null;
  let text = school.state;
  if (school.duration_s !== null) text += " " + duration(school.duration_s);
  if (school.cause) text += ", " + school.cause;
  else if (school.state === "unknown") text += school.duration_s === null ? ", no report yet" : ", never reported";
  return text;
}

function grafanaLink(id) {
  return grafanaUrl + "/d/schoolnet-school?var-school=" + encodeURIComponent(id);
}

function detailHref(id) {
  return "#school=" + encodeURIComponent(id);
}

function tile(school) {
  const t = el("div", "tile " + school.state);
  t.dataset.school = school.id;
  t.dataset.state = school.state;
  t.dataset.district = school.district;
  if (school.cause) t.dataset.cause = school.cause;
  const open = el("a", "open");
  open.href = detailHref(school.id);
  open.title = school.name + " (" + school.id + ", " + school.district + "): devices";
  open.appendChild(el("b", null, school.id));
  open.appendChild(el("span", "name", school.name));
  t.appendChild(open);
  const reason = why(school);
  if (reason) t.appendChild(el("span", "why", reason));
  if (grafanaUrl) {
    const g = el("a", "grafana", "Grafana");
    g.href = grafanaLink(school.id);
    g.target = "_blank";
    g.rel = "noopener";
    t.appendChild(g);
  }
  return t;
}

// ------------------------------------------------------------ view state

// Everything the view shows is in the URL: ?q= (filter words), ?state=
// (selected chips), #school= (the detail), so any view can be linked.
function view() {
  const params = new URLSearchParams(location.search);
  const words = (params.get("q") || "").toLowerCase().split(/\s+/).filter((w) => w);
  const selected = new Set((params.get("state") || "").split(",").filter((s) => STATES.includes(s)));
  const hash = location.hash.match(/^#school=(.*)$/);
  return { words, selected, school: hash ? decoded(hash[1]) : null };
}

// A hand-typed "#school=50%" is taken as written, not an exception.
function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return text;
  }
}

// Words match the id, name or district as substrings, and the state or cause
// exactly (so "up" does not also find "upstream_down").
function matches(school, words) {
  return words.every((w) => school.text.includes(w) || w === school.state || w === school.cause);
}

// The URL a chip leads to: its state toggled in ?state=, the rest kept.
function chipHref(state, selected) {
  const next = new Set(selected);
  if (next.has(state)) next.delete(state);
  else next.add(state);
  const url = new URL(location.href);
  url.hash = "";
  const list = STATES.filter((s) => next.has(s));
  if (list.length) url.searchParams.set("state", list.join(","));
  else url.searchParams.delete("state");
  return url.search || "?";
}

function countByState(list) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const s of list) counts[s.state] += 1;
  return counts;
}

function countsText(counts) {
  return STATES.filter((s) => counts[s] > 0).map((s) => counts[s] + " " + s).join(", ");
}

// ------------------------------------------------------------ rendering

function render() {
  const v = view();
  const matching = v.words.length ? schools.filter((s) => matches(s, v.words)) : schools;
  const shownState = (s) => v.selected.size === 0 || v.selected.has(s.state);
  renderSummary(matching, v);
  const main = el("main");
  main.id = "list";
  main.appendChild(problems(matching.filter((s) => s.state !== "up" && shownState(s))));
  if (v.selected.size === 0 || v.selected.has("up")) main.appendChild(healthy(matching));
  if (matching.length === 0 && schools.length > 0) main.appendChild(el("p", "note", "No school matches the filter."));
  document.getElementById("list").replaceWith(main);
  renderMap(matching.filter(shownState), v.school);
}

function renderSummary(matching, v) {
  const summary = document.getElementById("summary");
  summary.replaceChildren();
  summary.classList.toggle("filtered", v.selected.size > 0);
  const counts = countByState(matching);
  for (const state of STATES) {
    const chip = el("a", "chip " + state, state + " " + counts[state]);
    chip.dataset.countState = state;
    chip.dataset.count = counts[state];
    chip.setAttribute("aria-pressed", v.selected.has(state) ? "true" : "false");
    chip.href = chipHref(state, v.selected);
    chip.title = v.selected.has(state) ? "stop showing only " + state : "show " + state + " schools";
    summary.appendChild(chip);
  }
  const total = v.words.length ? matching.length + " of " + schools.length + " schools" : schools.length + " schools";
  summary.appendChild(el("span", null, total));
}

// Down, then degraded, then unknown; inventory order within a state, so
// tiles do not jump around between refreshes.
function problems(list) {
  const rank = (s) => STATES.indexOf(s.state);
  const sorted = list.slice().sort((a, b) => rank(a) - rank(b) || a.index - b.index);
  const section = el("section");
  section.id = "problems";
  const h = el("h2", null, "Problems ");
  h.appendChild(el("small", null, sorted.length ? countsText(countByState(sorted)) : "none"));
  section.appendChild(h);
  const tiles = el("div", "tiles");
  for (const s of sorted.slice(0, MAX_PROBLEM_TILES)) tiles.appendChild(tile(s));
  section.appendChild(tiles);
  if (sorted.length > MAX_PROBLEM_TILES) {
    const more = el("p", "more", (sorted.length - MAX_PROBLEM_TILES) + " more not shown: narrow with the chips or the filter");
    more.dataset.hidden = sorted.length - MAX_PROBLEM_TILES;
    section.appendChild(more);
  }
  return section;
}

// One collapsed line per district with its counts; an opened district shows
// its up schools' tiles (its problems are already at the top). Tiles of a
// closed district are never built: at 30,000 schools that is most of them.
function healthy(matching) {
  const byDistrict = new Map(districts.map((d) => [d, []]));
  for (const s of matching) byDistrict.get(s.district).push(s);
  const section = el("section");
  section.id = "healthy";
  section.appendChild(el("h2", null, "By district"));
  for (const [name, list] of byDistrict) {
    if (list.length === 0) continue;
    const counts = countByState(list);
    const details = el("details");
    details.dataset.district = name;
    details.dataset.up = counts.up;
    const summary = el("summary", null, name + " ");
    summary.appendChild(el("small", null, list.length + " schools: " + countsText(counts)));
    details.appendChild(summary);
    const fill = () => {
      if (details.querySelector(".tiles")) return;
      const tiles = el("div", "tiles");
      for (const s of list) if (s.state === "up") tiles.appendChild(tile(s));
      details.appendChild(tiles);
    };
    if (openDistricts.has(name)) {
      details.open = true;
      fill();
    }
    details.addEventListener("toggle", () => {
      if (details.open) {
        openDistricts.add(name);
        fill();
      } else {
        openDistricts.delete(name);
      }
    });
    section.appendChild(details);
  }
  return section;
}

// ------------------------------------------------------------ data

// `api/status` rows: [id, name, district, lat, lon, state, cause, duration_s]
// with district, state and cause as indexes into the answer's lists.
function load(status) {
  grafanaUrl = status.grafana_url;
  districts = status.districts;
  schools = status.schools.map((r, index) => ({
    index,
    id: r[0], name: r[1], district: status.districts[r[2]], lat: r[3], lon: r[4],
    state: status.states[r[5]], cause: r[6] === null ? null : status.causes[r[6]], duration_s: r[7],
    text: (r[0] + "\n" + r[1] + "\n" + status.districts[r[2]]).toLowerCase(),
  }));
  setProjection();
}

// When the school list first showed, in ms since navigation (and after the
// next frame, i.e. painted): what scripts/bench-status-page.sh reads.
function markContent(fetched) {
  if (contentMarked) return;
  contentMarked = true;
  const root = document.documentElement.dataset;
  root.fetchedMs = Math.round(fetched);
  root.contentMs = Math.round(performance.now());
  requestAnimationFrame(() => setTimeout(() => { root.paintedMs = Math.round(performance.now()); }, 0));
}

async function refresh() {
  const status = document.getElementById("updated");
  try {
    const response = await fetch("api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    load(await response.json());
    const fetched = performance.now();
    render();
    markContent(fetched);
    document.body.classList.remove("failed");
    status.className = "";
    status.textContent = "updated " + new Date().toLocaleTimeString() + ", every " + REFRESH_MS / 1000 + " s";
  } catch (e) {
    document.body.classList.add("failed");
    status.className = "error";
    status.textContent = "refresh failed: " + e.message + " (showing older data)";
  }
  renderDetail();
  setTimeout(refresh, REFRESH_MS);
}

// The filter box writes ?q= as one types (replacing the history entry);
// chips and school links add a history entry, so Back undoes them.
function onFilter() {
  const url = new URL(location.href);
  const q = document.getElementById("filter").value.trim();
  if (q) url.searchParams.set("q", q);
  else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  render();
}

function onChipClick(event) {
  const chip = event.target.closest("a.chip");
  if (!chip || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState(null, "", new URL(chip.getAttribute("href"), location.href));
  render();
  renderDetail();
}

const filter = document.getElementById("filter");
filter.value = new URLSearchParams(location.search).get("q") || "";
filter.addEventListener("input", onFilter);
document.getElementById("summary").addEventListener("click", onChipClick);
document.getElementById("map").addEventListener("click", onMapClick);
window.addEventListener("hashchange", () => { render(); renderDetail(); });
// Back and Forward (a fragment change also fires hashchange, which redraws).
window.addEventListener("popstate", () => {
  filter.value = new URLSearchParams(location.search).get("q") || "";
  render();
});
refresh();
