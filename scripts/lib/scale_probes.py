"""Measurements for the scale benchmark (scripts/lib/bench_scale.py): what a
process costs (/proc), what a scrape costs (curl), what Prometheus reports
(its HTTP API), and where the run happened. Python 3 standard library only.
"""

import json
import os
import platform
import socket
import statistics
import subprocess
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=120, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def prom_api(base, path):
    status, body = http_get(base + path)
    return json.loads(body)["data"]


def proc_status(pid, key):
    """VmRSS / VmHWM in MB (10^6 bytes)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    raise KeyError(key)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def curl(url, gzip=False):
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url]
    if gzip:
        argv[1:1] = ["-H", "Accept-Encoding: gzip"]
    return argv


def scrape_stats(url, pid, n, idle_cpu_rate):
    """n sequential scrapes with curl in each encoding, alternating gzip
    (what Prometheus asks for) and identity: durations, bytes, CPU-s each
    (the process's CPU during the scrape minus its idle rate). Scrapes are
    1.5 s apart, longer than the exporter shares a finished render (at most
    1 s), so every one is a fresh render."""
    runs = {"gzip": ([], []), "identity": ([], [])}
    sizes = {}
    for _ in range(n):
        for enc in ("gzip", "identity"):
            c0, t0 = cpu_seconds(pid), time.monotonic()
            out = subprocess.run(curl(url, gzip=enc == "gzip"), check=True,
                                 capture_output=True, text=True).stdout
            c1, t1 = cpu_seconds(pid), time.monotonic()
            secs, size = out.split()
            runs[enc][0].append(float(secs))
            runs[enc][1].append(max(0.0, (c1 - c0) - idle_cpu_rate * (t1 - t0)))
            sizes[enc] = int(size)
            time.sleep(1.5)
    gz, ident = runs["gzip"], runs["identity"]
    return {"p50_s": statistics.median(gz[0]), "durations_s": gz[0],
            "cpu_s_per_scrape": statistics.median(gz[1]),
            "identity_p50_s": statistics.median(ident[0]),
            "identity_durations_s": ident[0],
            "identity_cpu_s_per_scrape": statistics.median(ident[1]),
            "bytes": sizes["identity"], "gzip_bytes": sizes["gzip"]}


def concurrent_scrapes(url, n=4):
    ps = [subprocess.Popen(curl(url), stdout=subprocess.PIPE, text=True) for _ in range(n)]
    return sorted(float(p.communicate()[0].split()[0]) for p in ps)


def series_and_messages(url):
    """Exposition series (non-comment lines) and the messages counted so far."""
    _, body = http_get(url, timeout=300)
    series = messages = 0
    for line in body.split(b"\n"):
        if line and not line.startswith(b"#"):
            series += 1
            if line.startswith(b"schoolnet_collector_messages_total"):
                messages += float(line.rsplit(b" ", 1)[1])
    return series, messages


def prometheus_stats(base, pid, rss_samples):
    def matrix(q):
        return prom_api(base, "/api/v1/query?" + urllib.parse.urlencode({"query": q}))["result"]

    scrapes = {r["metric"]["instance"]: [float(v) for _, v in r["values"]]
               for r in matrix('scrape_duration_seconds{job="schoolnet"}[1h]')}
    failed = sum(sum(1 for _, v in r["values"] if v == "0")
                 for r in matrix('up{job="schoolnet"}[1h]'))
    groups = {}
    for r in matrix("max_over_time(prometheus_rule_group_last_duration_seconds[1h])"):
        groups[r["metric"]["rule_group"].split(";")[-1]] = float(r["value"][1])
    rules = prom_api(base, "/api/v1/rules")["groups"]
    return {
        "scrapes_s": scrapes, "failed_scrapes": failed,
        "head_series": prom_api(base, "/api/v1/status/tsdb")["headStats"]["numSeries"],
        "rss_mb": proc_status(pid, "VmRSS"), "peak_rss_mb": proc_status(pid, "VmHWM"),
        "rss_samples": rss_samples,
        "rule_groups": [{"name": g["name"], "interval_s": g["interval"],
                         "last_s": g["evaluationTime"], "max_s": groups.get(g["name"])}
                        for g in rules],
    }


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = proc_meminfo_gib()
    return "%d cores (%s), %.0f GiB, Linux %s" % (os.cpu_count(), model, mem, platform.release())


def proc_meminfo_gib():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 1024 / 1024


def commit():
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return rev + ("+dirty" if dirty else "")


def version(argv):
    out = subprocess.run(argv, capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0].strip()
