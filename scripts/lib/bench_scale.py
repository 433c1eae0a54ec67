#!/usr/bin/env python3
"""The scale benchmark behind scripts/bench-scale.sh (issue #22 part D).

Generates an inventory of --schools schools, starts mosquitto, one
`schoolnet run` (or --shards N instances with disjoint `[shard]` configs),
`schoolnet simulate` at the inventory's cadence (QoS 0), lets every device
report once (--warmup), measures the exporter with curl, then starts a real
Prometheus (the shipped rules, scrape and rule evaluation every 30 s) for
--duration and prints one table. Python 3 standard library only; the
servers are the Debian binaries the tests use (scripts/setup-test-deps.sh).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from scale_probes import (concurrent_scrapes, commit, cpu_seconds, free_port, http_get, machine,
                          proc_status, prometheus_stats, scrape_stats, series_and_messages, version)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MOSQUITTO = "/usr/sbin/mosquitto"
PROMETHEUS = "/usr/bin/prometheus"


class Procs:
    """Every process the benchmark starts; all are stopped on exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []  # (name, Popen, log path)

    def start(self, name, argv, env=None):
        log = os.path.join(self.workdir, name + ".log")
        p = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                             env=env, cwd=self.workdir)
        self.started.append((name, p, log))
        return p

    def check(self):
        for name, p, log in self.started:
            if p.poll() is not None and name != "simulate":
                sys.exit("bench-scale: %s exited with %s:\n%s" % (name, p.returncode, tail(log)))

    def stop_all(self):
        for _, p, _ in reversed(self.started):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for _, p, _ in reversed(self.started):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def tail(path, n=30):
    with open(path, "rb") as f:
        return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")


def wait_until(what, pred, timeout, procs, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(every)
    sys.exit("bench-scale: timed out after %ss waiting for %s" % (timeout, what))


def mosquitto_conf(workdir, port):
    lines = ["listener %d 127.0.0.1" % port, "allow_anonymous true",
             "log_dest file %s" % os.path.join(workdir, "mosquitto.broker.log"),
             "max_queued_messages 1000000", "max_queued_bytes 0", "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")
    path = os.path.join(workdir, "mosquitto.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def collector_config(inv, broker_port, listen_port, index, count):
    """The shipped example config without [influx] and [spool] (the bench
    measures MQTT → exporter → Prometheus), on this run's ports, QoS 0."""
    overrides = {
        ("mqtt", "url"): '"mqtt://127.0.0.1:%d"' % broker_port,
        ("mqtt", "client_id"): '"bench-scale"',
        ("mqtt", "qos"): "0",
        ("inventory", "schools"): json.dumps(os.path.join(inv, "schools.csv")),
        ("inventory", "devices"): json.dumps(os.path.join(inv, "devices.csv")),
        ("exporter", "listen"): '"127.0.0.1:%d"' % listen_port,
    }
    out, table = [], None
    with open(os.path.join(ROOT, "deploy", "schoolnet.example.toml")) as f:
        for line in f.read().splitlines():
            header = re.match(r"^\s*\[\[?([\w.]+)\]?\]", line)
            if header:
                table = header.group(1)
            if table in ("influx", "spool") or table and table.startswith(("influx.", "spool.")):
                continue
            key = re.match(r"^(\w+)\s*=", line)
            if key and (table, key.group(1)) in overrides:
                line = "%s = %s" % (key.group(1), overrides[(table, key.group(1))])
            out.append(line)
    if count > 1:
        out.append("\n[shard]\nindex = %d\ncount = %d" % (index, count))
    return "\n".join(out) + "\n"


def prometheus_config(workdir, prom_port, targets):
    rules = []
    for name in sorted(os.listdir(os.path.join(ROOT, "deploy", "prometheus", "rules"))):
        shutil.copy(os.path.join(ROOT, "deploy", "prometheus", "rules", name), workdir)
        rules.append(os.path.join(workdir, name))
    config = {  # YAML is a superset of JSON
        "global": {"scrape_interval": "30s", "evaluation_interval": "30s"},
        "rule_files": rules,
        "scrape_configs": [
            {"job_name": "schoolnet", "scrape_timeout": "25s",
             "static_configs": [{"targets": targets}]},
            {"job_name": "prometheus",
             "static_configs": [{"targets": ["127.0.0.1:%d" % prom_port]}]},
        ],
    }
    path = os.path.join(workdir, "prometheus.yml")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


def parse_seconds(text):
    return float(text[:-1]) if text.endswith("s") else float(text)


def run(args, workdir):
    binary = os.path.abspath(args.bin)
    procs = Procs(workdir)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "commit": commit(), "schools": args.schools,
              "shards": args.shards, "mosquitto": version([MOSQUITTO, "-h"]),
              "prometheus": version([PROMETHEUS, "--version"])}
    try:
        inv = os.path.join(workdir, "inventory")
        subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "inventory", "generate.py"),
                        "--out", inv, "--schools", str(args.schools),
                        "--districts", str(args.districts), "--olt-fanout", str(args.olt_fanout),
                        "--router-interval", "60", "--ont-interval", "120",
                        "--olt-interval", "120"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(inv, "devices.csv")) as f:
            result["devices"] = sum(1 for line in f if not line.startswith("#")) - 1
        result["districts"] = args.districts

        broker_port = free_port()
        mosquitto = procs.start("mosquitto", [MOSQUITTO, "-c", mosquitto_conf(workdir, broker_port)])
        wait_until("mosquitto", lambda: socket.create_connection(("127.0.0.1", broker_port)).close()
                   is None, 10, procs)

        count = max(args.shards, 1)
        instances = []  # (pid, /metrics URL, /readyz URL, port)
        t_start = time.monotonic()
        for index in range(count):
            port = free_port()
            path = os.path.join(workdir, "schoolnet-%d.toml" % index)
            with open(path, "w") as f:
                f.write(collector_config(inv, broker_port, port, index, count))
            p = procs.start("schoolnet-%d" % index, [binary, "run", "-c", path])
            base = "http://127.0.0.1:%d" % port
            instances.append((p.pid, base + "/metrics", base + "/readyz", port))
        ready = {}
        while len(ready) < count:
            procs.check()
            for i, (_, _, readyz, _) in enumerate(instances):
                if i in ready:
                    continue
                try:
                    if http_get(readyz, timeout=5)[0] == 200:
                        ready[i] = time.monotonic() - t_start
                except OSError:
                    pass
            if time.monotonic() - t_start > 300:
                sys.exit("bench-scale: /readyz not 200 after 300 s")
            time.sleep(0.05)
        result["readyz_s"] = [ready[i] for i in range(count)]

        sim = procs.start("simulate", [binary, "simulate", "--broker",
                                       "mqtt://127.0.0.1:%d" % broker_port, "--inventory", inv,
                                       "--qos", "0", "--quiet"])
        print("bench-scale: %d schools, %d instance(s) ready; warming up %.0f s" %
              (args.schools, count, args.warmup), file=sys.stderr, flush=True)
        time.sleep(max(args.warmup - 20, 0))
        # The exporters' CPU rate without scrapes: message handling only.
        idle0 = [(cpu_seconds(pid), time.monotonic()) for pid, *_ in instances]
        time.sleep(min(args.warmup, 20))
        procs.check()
        idle_rates = [(cpu_seconds(pid) - c) / (time.monotonic() - t)
                      for (pid, *_), (c, t) in zip(instances, idle0)]
        result["rss_before_mb"] = [proc_status(pid, "VmRSS") for pid, *_ in instances]

        t_msgs0 = time.monotonic()
        counted = [series_and_messages(url) for _, url, _, _ in instances]
        result["series"] = sum(s for s, _ in counted)
        msgs0 = sum(m for _, m in counted)
        result["scrape"] = [scrape_stats(url, pid, args.scrapes, rate)
                            for (pid, url, _, _), rate in zip(instances, idle_rates)]
        result["concurrent_s"] = concurrent_scrapes(instances[0][1])
        result["rss_after_scrapes_mb"] = [proc_status(pid, "VmRSS") for pid, *_ in instances]
        result["idle_cpu_rate"] = idle_rates

        print("bench-scale: exporter measured; Prometheus for %.0f s" % args.duration,
              file=sys.stderr, flush=True)
        prom_port = free_port()
        prom_url = "http://127.0.0.1:%d" % prom_port
        config = prometheus_config(workdir, prom_port, ["127.0.0.1:%d" % i[3] for i in instances])
        prom = procs.start("prometheus", [
            PROMETHEUS, "--config.file=" + config,
            "--storage.tsdb.path=" + os.path.join(workdir, "prometheus-data"),
            "--web.listen-address=127.0.0.1:%d" % prom_port])
        t_prom = time.monotonic()
        rss_samples = []
        while time.monotonic() - t_prom < args.duration:
            time.sleep(5)
            procs.check()
            rss_samples.append((round(time.monotonic() - t_prom), proc_status(prom.pid, "VmRSS")))
        result["prometheus_run_s"] = time.monotonic() - t_prom
        result["prom"] = prometheus_stats(prom_url, prom.pid, rss_samples)
        result["peak_rss_mb"] = [proc_status(pid, "VmHWM") for pid, *_ in instances]
        result["rss_end_mb"] = [proc_status(pid, "VmRSS") for pid, *_ in instances]
        counted = [series_and_messages(url) for _, url, _, _ in instances]
        result["msg_rate"] = (sum(m for _, m in counted) - msgs0) / (time.monotonic() - t_msgs0)
        result["mosquitto_rss_mb"] = proc_status(mosquitto.pid, "VmRSS")
        result["mosquitto_peak_mb"] = proc_status(mosquitto.pid, "VmHWM")
        if sim.poll() is not None:
            sys.exit("bench-scale: the simulator stopped early:\n" +
                     tail(os.path.join(workdir, "simulate.log")))
    finally:
        procs.stop_all()
    return result


def fmt_list(values, unit="", digits=2):
    return " / ".join("%.*f%s" % (digits, v, unit) for v in values)


def print_table(r, out=sys.stdout):
    n, per = r["schools"], 1000.0 / r["schools"]
    prom = r["prom"]
    rows = [
        ("series (all instances)", "{:,}  ({:.1f} per school)".format(r["series"], r["series"] / n)),
        ("/metrics bytes, identity", fmt_list([s["bytes"] / 1e6 for s in r["scrape"]], " MB", 1)),
        ("/metrics bytes, gzip", fmt_list([s["gzip_bytes"] / 1e6 for s in r["scrape"]], " MB", 1)),
        ("scrape p50, curl with gzip (as Prometheus)", fmt_list([s["p50_s"] for s in r["scrape"]], " s")),
        ("scrape p50, curl identity", fmt_list([s["identity_p50_s"] for s in r["scrape"]], " s")),
        ("exporter CPU-s per scrape, gzip", fmt_list([s["cpu_s_per_scrape"] for s in r["scrape"]], "")),
        ("exporter CPU-s per scrape, identity",
         fmt_list([s["identity_cpu_s_per_scrape"] for s in r["scrape"]], "")),
        ("4 concurrent scrapes finish", fmt_list(r["concurrent_s"], " s")),
        ("exporter RSS before scrapes", fmt_list(r["rss_before_mb"], " MB", 0)),
        ("exporter RSS after %d scrapes" % (2 * len(r["scrape"][0]["durations_s"])),
         fmt_list(r["rss_after_scrapes_mb"], " MB", 0)),
        ("exporter RSS at end / peak", fmt_list(r["rss_end_mb"], " MB", 0) + "  /  " +
         fmt_list(r["peak_rss_mb"], " MB", 0)),
        ("/readyz after start", fmt_list(r["readyz_s"], " s")),
    ]
    for target, s in sorted(prom["scrapes_s"].items()):
        which = "" if len(prom["scrapes_s"]) == 1 else " " + target
        rows.append(("Prometheus scrape first / later" + which,
                     "%.1f s / %s" % (s[0], fmt_list(s[1:], " s", 1) or "-")))
    rows += [
        ("Prometheus failed scrapes", str(prom["failed_scrapes"])),
        ("Prometheus head series", "{:,}".format(prom["head_series"])),
        ("Prometheus RSS after %.0f s / peak" % r["prometheus_run_s"],
         "%.0f MB / %.0f MB  (%.0f MB per 1,000 schools)" % (
             prom["rss_mb"], prom["peak_rss_mb"], prom["rss_mb"] * per)),
        ("Prometheus RSS every 30 s", ", ".join("%ds %.0f" % (t, m) for t, m in prom["rss_samples"]
                                                if t % 30 < 5)),
    ]
    for g in prom["rule_groups"]:
        rows.append(("rule group %s (every %ss)" % (g["name"], g["interval_s"]),
                     "last %.2f s, max %s" % (g["last_s"], "-" if g["max_s"] is None
                                              else "%.2f s" % g["max_s"])))
    rows += [
        ("rule groups, sum of last", "%.2f s" % sum(g["last_s"] for g in prom["rule_groups"])),
        ("mosquitto RSS / peak", "%.0f MB / %.0f MB" % (r["mosquitto_rss_mb"], r["mosquitto_peak_mb"])),
        ("messages/s (collector)", "{:,.0f}".format(r["msg_rate"])),
    ]
    print("scale benchmark, %s, commit %s" % (r["date"], r["commit"]), file=out)
    print("machine: %s; %s; %s" % (r["machine"], r["mosquitto"], r["prometheus"]), file=out)
    print("load: %s schools, %d districts, %s devices; routers every 60 s, ONTs/OLTs every 120 s, "
          "QoS 0; %s" % ("{:,}".format(n), r["districts"], "{:,}".format(r["devices"]),
                         "unsharded" if r["shards"] <= 1 else "%d shards" % r["shards"]), file=out)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("  %-*s  %s" % (width, k, v), file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "schoolnet"))
    ap.add_argument("--schools", type=int, default=30000)
    ap.add_argument("--districts", type=int, help="default: schools / 300, at least 1")
    ap.add_argument("--olt-fanout", type=int, default=0)
    ap.add_argument("--shards", type=int, default=0, help="N instances, [shard] 0..N-1 of N")
    ap.add_argument("--warmup", type=parse_seconds, default=130.0,
                    help="simulate this long before measuring (ONTs report every 120 s)")
    ap.add_argument("--duration", type=parse_seconds, default=150.0,
                    help="how long Prometheus scrapes")
    ap.add_argument("--scrapes", type=int, default=5, help="sequential curl scrapes")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.districts is None:
        args.districts = max(1, args.schools // 300)
    workdir = tempfile.mkdtemp(prefix="bench-scale-")
    try:
        result = run(args, workdir)
    finally:
        if args.keep:
            print("bench-scale: kept %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
