#!/usr/bin/env python3
"""Deadline benchmark (issue 7): a huge mailbox list against `--deadline`.

Writes an N-line mailbox list (default 1,000,000), starts `exprobe lab serve` (100 users, 50 ms per
request), runs `check --mailboxes LIST --deadline D` once per format, and prints per format: exit
code, wall time, peak RSS, output size, and whether every input line got exactly one result.

Usage: deadline.py --exprobe BIN [--n 1000000] [--deadline 5] [--formats jsonl,json,human]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import bulk  # noqa: E402  (scenario, lab start-up and the bench password)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exprobe", required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--deadline", type=float, default=5)
    ap.add_argument("--formats", default="jsonl,json,human")
    a = ap.parse_args()
    print(f"{'format':<7} {'lines':>9} {'deadline':>8} {'exit':>4} {'wall s':>7} {'RSS MiB':>8} {'output MB':>9}  results")
    with tempfile.TemporaryDirectory() as d:
        scen = os.path.join(d, "s.toml")
        with open(scen, "w") as f:
            f.write(bulk.scenario(100, 50, 27))
        mailboxes = os.path.join(d, "m.txt")
        with open(mailboxes, "w") as f:
            f.writelines(f"user{i}@contoso.com\n" for i in range(a.n))
        lab, line, _ = bulk.start_lab(a.exprobe, scen, os.path.join(d, "rec.jsonl"))
        try:
            args = [x for x in line.split()[2:] if not x.startswith("--mailbox=")]
            args = [x.replace("--password-env=EXPROBE_PASSWORD", "--password-env=BENCH_PASSWORD") for x in args]
            env = dict(os.environ, BENCH_PASSWORD=bulk.PASSWORD)
            for fmt in a.formats.split(","):
                out = os.path.join(d, "out." + fmt)
                cmd = ["/usr/bin/time", "-f", "TIME %e %M", a.exprobe, "check", *args, f"--mailboxes={mailboxes}",
                       "--concurrency=27", f"--format={fmt}", f"--output={out}", f"--deadline={a.deadline}"]
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                m = re.search(r"TIME ([\d.]+) (\d+)", r.stderr)
                results = "-"
                if fmt == "jsonl":
                    seen = set()
                    with open(out) as f:
                        for l in f:
                            rec = json.loads(l)
                            if rec["type"] == "mailbox":
                                seen.add(rec["index"])
                    results = f"{len(seen)} mailbox lines, {'one per line' if seen == set(range(a.n)) else 'MISSING'}"
                elif fmt == "json":
                    with open(out) as f:
                        n = len(json.load(f)["mailboxes"])
                    results = f"{n} mailbox results, {'one per line' if n == a.n else 'MISSING'}"
                print(f"{fmt:<7} {a.n:>9} {a.deadline:>8} {r.returncode:>4} {float(m[1]):>7.2f} "
                      f"{int(m[2]) / 1024:>8.0f} {os.path.getsize(out) / 1e6:>9.1f}  {results}", flush=True)
        finally:
            lab.kill()


if __name__ == "__main__":
    main()
