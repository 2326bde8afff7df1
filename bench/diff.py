#!/usr/bin/env python3
"""Input benchmark (issue 17): `exprobe diff` and `check --baseline` on large and hostile input.

Rows:
  codes N       two jsonl runs of N mailboxes, each mailbox with its own code (N distinct codes)
  records N     two jsonl runs of N mailbox lines shaped like real ones (two steps with redacted
                evidence, one finding with its remediation; ~2.3 KiB a line), a tenth of them changed
  zero          `diff /dev/zero GOOD` and `check --baseline /dev/zero` (refused at once)
Each row: exit code, wall time, peak RSS (GNU time), and what diff printed first.

Usage: diff.py --exprobe BIN [--codes 32000,300000] [--records 1000000]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile

BEGIN = {"type": "begin", "schema_version": 1, "tool": {"name": "exprobe", "version": "0.1.0"},
         "started_at": "2026-12-03T10:00:00Z",
         "target": {"mailbox_count": 0, "service_account": "svc@contoso.com", "auth": "basic",
                    "tenant": None, "api": "ews"}, "insecure": False}


def evidence(url):
    return {"request": {"method": "POST", "url": url,
                        "headers": [["content-type", "text/xml; charset=utf-8"], ["authorization", "Basic [redacted]"],
                                    ["x-anchormailbox", "user@contoso.com"]],
                        "body_excerpt": "<soap:Envelope>…<t:ExchangeImpersonation>…</soap:Envelope>"},
            "response": {"status": 500, "headers": [["content-type", "text/xml; charset=utf-8"],
                                                     ["request-id", "6f1c2d4e-0000-4000-8000-000000000000"],
                                                     ["x-feserver", "EX01"]],
                         "body_excerpt": "<s:Fault><faultcode>a:ErrorImpersonateUserDenied</faultcode>"
                                         "<faultstring>The account does not have permission to impersonate the "
                                         "requested user.</faultstring></s:Fault>",
                         "body_bytes": 912, "truncated": False},
            "started_ms": 120, "duration_ms": 41}


def mailbox_line(i, address, status, codes):
    steps = [{"id": f"{p}:{address}", "probe": p, "mailbox": address, "title": p, "status": "fail" if codes else "pass",
              "duration_ms": 41, "detail": "ErrorImpersonateUserDenied: The account does not have permission",
              "observations": {"response_code": "ErrorImpersonateUserDenied"},
              "evidence": [evidence("https://mail.contoso.com/EWS/Exchange.asmx")]}
             for p in ("ews.impersonation", "identity")]
    own = [{"code": c, "severity": "critical", "mailbox": address, "title": "Impersonation denied",
            "detail": "ErrorImpersonateUserDenied", "explanation": "The service account lacks ApplicationImpersonation "
            "for this mailbox (the role is missing, or its management scope excludes it).",
            "remediation": ["Exchange admin center → Roles → Admin roles → add ApplicationImpersonation",
                            "Wait up to two hours, then run exprobe again"],
            "evidence_steps": [steps[0]["id"]], "references": ["https://learn.microsoft.com/exchange"]}
           for c in codes]
    return {"type": "mailbox", "index": i, "address": address, "status": status, "findings": codes,
            "facts": {"ews_url": "https://mail.contoso.com/EWS/Exchange.asmx"}, "steps": steps, "own_findings": own}


def write_run(path, n, line_of):
    with open(path, "w") as f:
        f.write(json.dumps(dict(BEGIN, target=dict(BEGIN["target"], mailbox_count=n))) + "\n")
        for i in range(n):
            f.write(json.dumps(line_of(i), separators=(",", ":")) + "\n")
        f.write(json.dumps({"type": "summary", "status": "fail", "duration_ms": 1, "checked": n,
                            "counts": {"pass": 0, "warn": 0, "fail": n, "by_code": {}}, "findings": []}) + "\n")


def timed(cmd):
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *cmd], capture_output=True, text=True, timeout=1200)
    m = re.search(r"TIME ([\d.]+) (\d+)", r.stderr)
    first = (r.stdout.strip().splitlines() or r.stderr.strip().splitlines() or [""])[0][:60]
    return r.returncode, float(m[1]), int(m[2]) / 1024, first


def row(what, size, result):
    code, wall, rss, first = result
    print(f"{what:<9} {size:>12} {code:>4} {wall:>8.2f} {rss:>8.0f}  {first}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exprobe", required=True)
    ap.add_argument("--codes", default="32000,300000")
    ap.add_argument("--records", type=int, default=1_000_000)
    a = ap.parse_args()
    print(f"{'input':<9} {'size':>12} {'exit':>4} {'wall s':>8} {'RSS MiB':>8}  first line of output")
    with tempfile.TemporaryDirectory() as d:
        old, new = os.path.join(d, "old.jsonl"), os.path.join(d, "new.jsonl")
        for n in [int(x) for x in a.codes.split(",") if x]:
            write_run(old, n, lambda i: {"type": "mailbox", "index": i, "address": f"user{i}@contoso.com",
                                         "status": "fail", "findings": [f"custom.code_{i}"], "steps": [],
                                         "own_findings": []})
            write_run(new, n, lambda i: {"type": "mailbox", "index": i, "address": f"user{i}@contoso.com",
                                         "status": "fail", "findings": [f"custom.code_{i + n // 2}"], "steps": [],
                                         "own_findings": []})
            row("codes", n, timed([a.exprobe, "diff", old, new]))
        if a.records:
            n = a.records
            write_run(old, n, lambda i: mailbox_line(i, f"user{i}@contoso.com", "fail", ["impersonation.denied"]))
            write_run(new, n, lambda i: mailbox_line(i, f"user{i}@contoso.com", "pass" if i % 10 == 0 else "fail",
                                                     [] if i % 10 == 0 else ["impersonation.denied"]))
            size = f"{n} ({os.path.getsize(old) / 2**30:.1f} GiB)"
            row("records", size, timed([a.exprobe, "diff", old, new]))
            row("records", size + " json", timed([a.exprobe, "diff", "--format", "json", old, new]))
        good = old
        if not a.records:
            write_run(good, 1, lambda i: mailbox_line(i, "a@contoso.com", "pass", []))
        row("zero", "diff", timed([a.exprobe, "diff", "/dev/zero", good]))
        row("zero", "--baseline", timed([a.exprobe, "check", "--mailbox", "a@contoso.com", "--auth", "none",
                                         "--baseline", "/dev/zero"]))


if __name__ == "__main__":
    main()
