#!/usr/bin/env python3
"""Bulk benchmark: exprobe (and optionally exchangelib) against the lab.

Generates an N-user scenario (POX autodiscover on the domain root behind Basic, EWS with a
concurrency limit), starts `exprobe lab serve` with per-request latency and a request recording,
runs `exprobe check --mailboxes` under /usr/bin/time, reads the recording and prints one table row:
mailboxes/s, round trips per mailbox, % of the round-trip limit (limit / (round trips x latency)),
CPU seconds per 1,000 checks, peak RSS, EWS busy retries, results per input mailbox.

Usage: bulk.py --exprobe BIN [--n 1000] [--latency-ms 50] [--limit 27] [--concurrency 27]
               [--python VENV_PYTHON] (adds the exchangelib thread-pool row)
Only loopback is used; every loop is bounded.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

PASSWORD = "Bench-Pa55-7c1d"


def scenario(n, latency, limit):
    users = "".join(f'[[users]]\naddress = "user{i}@contoso.com"\n' for i in range(n))
    return f'''
name = "bench-bulk"
description = "{n} users, {latency} ms per request, EWS concurrency limit {limit}"
expect = []
[check]
mailboxes = ["user0@contoso.com"]
service_account = "svc-sync@contoso.com"
[exchange]
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
autodiscover_auth = "basic"
# Basic only: the exchangelib peer picks NTLM when it is offered, which the lab does not speak yet.
auth_schemes = ["basic"]
concurrency_limit = {limit}
busy_back_off_ms = 100
[dns]
mx = [{{ name = "contoso.com", exchange = "mail.contoso.com" }}]
[[hosts]]
name = "contoso.com"
autodiscover = ["pox", "soap"]
latency_ms = {latency}
[[hosts]]
name = "mail.contoso.com"
ews = true
latency_ms = {latency}
{users}
[[service_accounts]]
address = "svc-sync@contoso.com"
password = "{PASSWORD}"
application_impersonation = true
'''


def start_lab(exprobe, scen_file, record):
    lab = subprocess.Popen([exprobe, "lab", "serve", f"--scenario-file={scen_file}", f"--record={record}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for _ in range(40):
        line = lab.stdout.readline()
        lines.append(line)
        if "exprobe check" in line:
            return lab, line.strip(), "".join(lines)
    lab.kill()
    raise SystemExit("lab did not start:\n" + "".join(lines))


def timed(cmd, env, watch=None):
    """Run cmd under /usr/bin/time; with watch (a file), also the seconds until its first line."""
    began = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-f", "TIME %e %U %S %M"] + cmd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    if watch:
        for _ in range(360000):  # bounded: at most an hour at 10 ms
            if p.poll() is not None:
                break
            try:
                with open(watch, "rb") as f:
                    if b"\n" in f.read(1 << 16):
                        first = time.monotonic() - began
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.01)
    stdout, stderr = p.communicate(timeout=3600)
    out = subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", stderr)
    wall, user, sys_, rss = float(m[1]), float(m[2]), float(m[3]), int(m[4])
    return out, wall, user + sys_, rss, first


def row(name, n, wall, cpu, rss, requests, ews_requests, results, latency, limit):
    rt = requests / n
    ideal = limit / (rt * latency / 1000)
    rate = n / wall
    return (f"{name:<22} {n:>7} {rate:>9.1f} {rt:>6.2f} {100 * rate / (limit / (2 * latency / 1000)):>8.1f}%"
            f" {100 * rate / ideal:>8.1f}% {cpu / n * 1000:>10.3f} {rss / 1024:>8.1f} {ews_requests - n:>7} {results:>8}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exprobe", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--limit", type=int, default=27)
    ap.add_argument("--concurrency", type=int, default=27)
    ap.add_argument("--python")
    ap.add_argument("--format", choices=["json", "jsonl"], default="json")
    a = ap.parse_args()
    print(f"{'tool':<22} {'mbx':>7} {'mbx/s':>9} {'RT/mbx':>6} {'%of2RT':>9} {'%ofRT':>9} "
          f"{'CPUs/1k':>10} {'RSS MiB':>8} {'busy':>7} {'results':>8}")
    with tempfile.TemporaryDirectory() as d:
        scen = os.path.join(d, "bench.toml")
        with open(scen, "w") as f:
            f.write(scenario(a.n, a.latency_ms, a.limit))
        mailboxes = os.path.join(d, "mailboxes.txt")
        with open(mailboxes, "w") as f:
            f.writelines(f"user{i}@contoso.com\n" for i in range(a.n))
        record = os.path.join(d, "record.jsonl")
        lab, check_line, banner = start_lab(a.exprobe, scen, record)
        try:
            args = [x for x in check_line.split()[2:] if not x.startswith("--mailbox=")]
            args = [x.replace("--password-env=EXPROBE_PASSWORD", "--password-env=BENCH_PASSWORD") for x in args]
            env = dict(os.environ, BENCH_PASSWORD=PASSWORD)
            out_file = os.path.join(d, "report." + a.format)
            cmd = [a.exprobe, "check", *args, f"--mailboxes={mailboxes}", f"--concurrency={a.concurrency}",
                   f"--format={a.format}", f"--output={out_file}", "--deadline=3600", "--timeout=30"]
            out, wall, cpu, rss, first = timed(cmd, env, watch=out_file if a.format == "jsonl" else None)
            if a.format == "json":
                with open(out_file) as f:
                    mailbox_results = json.load(f)["mailboxes"]
            else:
                mailbox_results = []
                with open(out_file) as f:
                    for line in f:
                        rec = json.loads(line)
                        if rec["type"] == "mailbox":
                            mailbox_results.append({"findings": rec["findings"], "index": rec["index"]})
                assert len({m["index"] for m in mailbox_results}) == len(mailbox_results), "one line per mailbox"
            requests = ews = 0
            with open(record) as f:
                for line in f:
                    r = json.loads(line)
                    requests += 1
                    ews += r["path"].lower() == "/ews/exchange.asmx" and "ExchangeImpersonation" in r["body"]
            results = len(mailbox_results)
            throttled = sum(1 for m in mailbox_results if "ews.throttled" in m["findings"])
            extra = f", first line {first:.2f} s" if first is not None else ""
            print(row(f"exprobe {a.format} c={a.concurrency}", a.n, wall, cpu, rss, requests, ews, results,
                      a.latency_ms, a.limit) + f"   exit {out.returncode}, ews.throttled {throttled}{extra}")
            if a.python:
                open(record, "w").close()
                m = re.search(r"--dns-server=([\d.]+):(\d+).*--connect-to=:443::(\d+).*--connect-to=:80::(\d+).*--ca-file=(\S+)",
                              check_line)
                script = os.path.join(os.path.dirname(__file__), "exchangelib_pool.py")
                cmd = [a.python, script, mailboxes, m[1], m[2], m[3], m[4], m[5], str(a.concurrency)]
                out, wall, cpu, rss, _ = timed(cmd, env)
                with open(record) as f:
                    reqs = [json.loads(l) for l in f]
                ews = sum(1 for r in reqs if r["path"].lower() == "/ews/exchange.asmx"
                          and "ExchangeImpersonation" in r["body"])
                try:
                    results = json.loads(out.stdout.strip().splitlines()[-1])["results"]
                except Exception:
                    results = 0
                    print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
                print(row(f"exchangelib t={a.concurrency}", a.n, wall, cpu, rss, len(reqs), ews, results,
                          a.latency_ms, a.limit))
        finally:
            lab.kill()


if __name__ == "__main__":
    main()
