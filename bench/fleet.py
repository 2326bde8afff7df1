#!/usr/bin/env python3
"""Fleet benchmark: one vendor app checked in N customer tenants of one lab (`check --tenants`).

Generates a lab of N Exchange Online tenants beside the vendor's (the same shape as
tests/it/fleet.rs: most consented and allow-listed, every 7th not on EwsAllowedAppIDs, every
11th never consented, every 13th with EWS off), starts `exprobe lab serve`, runs
`exprobe check --tenants FILE` under /usr/bin/time with the given latency per request, and
prints one table row: tenants, records written (one per row expected), tenants/s, peak RSS,
CPU seconds per 1,000 tenants, and the records per verdict.

Usage: fleet.py --exprobe BIN [--n 1000] [--latency-ms 20] [--concurrency 16]
Only loopback is used; every loop is bounded.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

APP = "7a1e2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
VENDOR = "0a0a0a0a-0000-4000-8000-00000000000a"
SECRET = "Vendor~Secret.Value_42"


def tenant_id(i):
    return f"{i + 1:08x}-1111-4222-8333-{i + 1:012x}"


def kind(i):
    if i % 13 == 12:
        return "ews_off"
    if i % 11 == 10:
        return "no_consent"
    if i % 7 == 6:
        return "not_listed"
    return "ready"


def scenario(n, latency):
    mx = ", ".join(f'{{ name = "t{i}.example", exchange = "t{i}-example.mail.protection.outlook.com" }}'
                   for i in range(n))
    cname = ", ".join(f'{{ name = "autodiscover.t{i}.example", target = "autodiscover.outlook.com" }}'
                      for i in range(n))
    tenants, consented = [], []
    for i in range(n):
        k = kind(i)
        enabled = "false" if k == "ews_off" else "true"
        listed = "00000002-0000-0ff1-ce00-000000000000" if k == "not_listed" else APP
        if k != "no_consent":
            consented.append(f'"{tenant_id(i)}"')
        tenants.append(f'[[tenants]]\nid = "{tenant_id(i)}"\nname = "Customer {i}"\ndomains = ["t{i}.example"]\n'
                       f'ews_enabled = {enabled}\news_allowed_app_ids = ["{listed}"]\n\n'
                       f'[[users]]\naddress = "alice@t{i}.example"\n')
    hosts = "".join(f'[[hosts]]\nname = "{h}"\n{extra}\nlatency_ms = {latency}\n\n' for h, extra in [
        ("autodiscover.outlook.com", 'autodiscover = ["soap", "pox"]'),
        ("outlook.office365.com", 'autodiscover = ["v2"]\news = true'),
        ("login.microsoftonline.com", "entra = true"),
        ("graph.microsoft.com", "graph = true"),
    ])
    return f'''name = "bench-fleet"
description = "A vendor's app in {n} customer tenants, {latency} ms per request"

[dns]
mx = [{mx}]
cname = [{cname}]

[check]
mailboxes = ["alice@t0.example"]
auth = "app"
tenant = "{tenant_id(0)}"
client_id = "{APP}"
api = "ews"

[exchange]
online = true
ews_url = "https://outlook.office365.com/EWS/Exchange.asmx"
auth_schemes = ["bearer"]

{hosts}[[tenants]]
id = "{VENDOR}"
name = "Vendor"
domains = ["vendor.example"]

{"".join(tenants)}
[[apps]]
client_id = "{APP}"
tenant = "{VENDOR}"
display_name = "Vendor Sync"
roles = ["full_access_as_app", "Mail.Read"]
secrets = [{{ value = "{SECRET}", expired = false }}]
consented_in = [{", ".join(consented)}]
'''


def start_lab(exprobe, scen_file):
    lab = subprocess.Popen([exprobe, "lab", "serve", f"--scenario-file={scen_file}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for _ in range(40):
        line = lab.stdout.readline()
        lines.append(line)
        if "exprobe check" in line:
            return lab, line.strip()
    lab.kill()
    raise SystemExit("lab did not start:\n" + "".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exprobe", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        scen = os.path.join(d, "fleet.toml")
        with open(scen, "w") as f:
            f.write(scenario(a.n, a.latency_ms))
        tenants = os.path.join(d, "tenants.csv")
        with open(tenants, "w") as f:
            f.write("tenant,mailbox\n")
            f.writelines(f"{'t%d.example' % i if i % 2 == 0 else tenant_id(i)},alice@t{i}.example\n"
                         for i in range(a.n))
        lab, check_line = start_lab(a.exprobe, scen)
        try:
            args = [x for x in check_line.split()[2:]
                    if not x.startswith("--mailbox=") and not x.startswith("--tenant=")]
            args = [x.replace("=EXPROBE_PASSWORD", "=BENCH_SECRET") for x in args]
            env = dict(os.environ, BENCH_SECRET=SECRET)
            out_file = os.path.join(d, "fleet.jsonl")
            cmd = ["/usr/bin/time", "-f", "TIME %e %U %S %M", a.exprobe, "check", *args,
                   f"--tenants={tenants}", f"--concurrency={a.concurrency}", f"--output={out_file}",
                   "--timeout=30"]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
            m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", p.stderr)
            if not m:
                raise SystemExit(f"no timing (exit {p.returncode}):\n{p.stderr[-2000:]}")
            wall, cpu, rss = float(m[1]), float(m[2]) + float(m[3]), int(m[4])
            records = []
            with open(out_file) as f:
                for line in f:
                    records.append(json.loads(line))
        finally:
            lab.terminate()
            lab.wait(timeout=10)
    tenant_lines = [r for r in records if r["type"] == "tenant"]
    indices = {r["index"] for r in tenant_lines}
    verdicts = collections.Counter((r["consent"], r["ews"]) for r in tenant_lines)
    ready = sum(1 for r in tenant_lines if r.get("graph_ready"))
    print(f"{'tenants':>8} {'records':>8} {'unique':>7} {'tenants/s':>10} {'RSS MiB':>8} {'CPUs/1k':>8} "
          f"{'graph ready':>11} exit")
    print(f"{a.n:>8} {len(tenant_lines):>8} {len(indices):>7} {a.n / wall:>10.1f} {rss / 1024:>8.1f} "
          f"{cpu / a.n * 1000:>8.2f} {ready:>11} {p.returncode}")
    print("verdicts (consent, ews): " + ", ".join(f"{k[0]}/{k[1]}={v}" for k, v in sorted(verdicts.items())))
    ok = len(tenant_lines) == a.n and len(indices) == a.n and records[-1]["type"] == "summary"
    print("one record per tenant: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
