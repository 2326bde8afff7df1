#!/usr/bin/env python3
"""Peer-agreement matrix: real clients against every built-in lab scenario, beside exprobe.

For each scenario this starts `exprobe lab serve`, runs the `exprobe check` line it prints
(--format json), and runs the real clients the scenario's setup calls for, with their default
settings and unmodified (tests/peers/*.py point them at the lab's DNS and ports):

  exchangelib  Basic, NTLM or discovery-only setups: its own SOAP autodiscover, then for each
               mailbox an impersonated `account.inbox` (its version probe and GetFolder),
               `account.inbox.all()[:1]` (FindItem, GetItem) and a calendar view, auth chosen
               by exchangelib from the server's challenge
  msal         app-only setups with a client secret: acquire_token_for_client

A client "fails" when it raises or gets no token. Agreement: the client fails exactly when
exprobe reports a critical finding (status fail). Prints one row per scenario and the count.

Usage: bench/peer_matrix.py --exprobe target/release/exprobe --python .venv/bin/python
       [--scenario NAME ...]
Not covered (listed as n/a): OAuth grants other than client credentials with a secret, and
given tokens.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "tests", "peers")


def start_lab(exprobe, name):
    p = subprocess.Popen([exprobe, "lab", "serve", "--scenario", name], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    lines = []
    deadline = time.time() + 20
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    text = "".join(lines)
    def grab(pattern):
        m = re.search(pattern, text, re.M)
        return m.group(1) if m else None
    lab = {
        "proc": p,
        "dns": grab(r"^\s+DNS\s+(\S+)"),
        "https": grab(r"^\s+HTTPS\s+(\S+)"),
        "http": grab(r"^\s+HTTP\s+(\S+)"),
        "ca": grab(r"^\s+CA\s+(\S+)"),
        "password": None,
        "check": None,
    }
    m = re.search(r"export EXPROBE_PASSWORD=(.+)", text)
    if m:
        v = m.group(1).strip()
        lab["password"] = v[1:-1].replace("'\\''", "'") if v.startswith("'") else v
    m = re.search(r"^\s+exprobe (check .+)$", text, re.M)
    if m:
        lab["check"] = m.group(1)
    return lab


def args_of(check_line):
    import shlex
    return shlex.split(check_line)


def arg(args, name):
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def all_args(args, name):
    return [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]


def run(cmd, env, timeout=120):
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    try:
        return json.loads(last), None
    except json.JSONDecodeError:
        return None, (out.stderr.strip().splitlines() or ["no output"])[-1][:120]


def exchangelib(py, lab, args, env):
    mailboxes = all_args(args, "mailbox")
    mailbox = mailboxes[0]
    username = arg(args, "service-account")
    dns_ip, dns_port = lab["dns"].rsplit(":", 1)
    https_port = lab["https"].rsplit(":", 1)[1]
    http_port = lab["http"].rsplit(":", 1)[1]
    cmd = [py, os.path.join(PEERS, "exchangelib_autodiscover.py"), mailbox, dns_ip, dns_port, https_port,
           http_port, lab["ca"]]
    if username and lab["password"]:
        cmd.append(username)
    found, err = run(cmd, env)
    if found is None or "error" in found:
        what = (found or {}).get("error") or err
        return False, f"autodiscover: {what}"
    if not (username and lab["password"]):
        return True, "autodiscover only"
    ews_url = found["ews_url"]
    auth = None
    for m in mailboxes:
        inbox, err = run([py, os.path.join(PEERS, "exchangelib_impersonation.py"), ews_url, m, username,
                          dns_ip, dns_port, https_port, lab["ca"], "GUESS", "ITEMS"], env)
        if inbox is None:
            return False, f"inbox of {m}: {err}"
        if not inbox.get("ok"):
            return False, f"inbox of {m}: {inbox.get('error')}"
        auth = inbox.get("auth_type")
    return True, f"{len(mailboxes)} inbox(es), newest item, calendar view ({auth})"


# The check's --cloud: its authority and Exchange Online host.
CLOUDS = {
    None: ("login.microsoftonline.com", "outlook.office365.com"),
    "global": ("login.microsoftonline.com", "outlook.office365.com"),
    "usgov-gcchigh": ("login.microsoftonline.us", "outlook.office365.us"),
    "usgov-dod": ("login.microsoftonline.us", "outlook-dod.office365.us"),
    "china": ("login.partner.microsoftonline.cn", "partner.outlook.cn"),
}


def exchangelib_app(py, lab, args, env):
    """exchangelib's own OAuth (client credentials) and impersonated GetFolder of each mailbox."""
    _, ews_host = CLOUDS.get(arg(args, "cloud"), CLOUDS[None])
    dns_ip, dns_port = lab["dns"].rsplit(":", 1)
    https_port = lab["https"].rsplit(":", 1)[1]
    env = dict(env, EXPROBE_CLIENT_SECRET=lab["password"] or "")
    for m in all_args(args, "mailbox"):
        got, err = run([py, os.path.join(PEERS, "exchangelib_app.py"), ews_host, m, arg(args, "tenant"),
                        arg(args, "client-id"), dns_ip, dns_port, https_port, lab["ca"]], env)
        if got is None:
            return False, f"EWS as the app, {m}: {err}"
        if not got.get("ok"):
            return False, f"EWS as the app, {m}: {got.get('error')}"
    return True, "EWS inbox(es) as the app"


def msal(py, lab, args, env):
    tenant = arg(args, "tenant")
    client_id = arg(args, "client-id")
    dns_ip, dns_port = lab["dns"].rsplit(":", 1)
    https_port = lab["https"].rsplit(":", 1)[1]
    env = dict(env, EXPROBE_CLIENT_SECRET=lab["password"] or "")
    authority, ews_host = CLOUDS.get(arg(args, "cloud"), CLOUDS[None])
    got, err = run([py, os.path.join(PEERS, "msal_client_credentials.py"), tenant, client_id,
                    f"https://{ews_host}/.default", dns_ip, dns_port, https_port, lab["ca"], authority], env)
    if got is None:
        return False, err
    if got.get("ok"):
        return True, "token"
    return False, f"{got.get('error')} {got.get('error_codes')}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exprobe", default="target/release/exprobe")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--scenario", action="append")
    a = ap.parse_args()
    names = a.scenario or [l.split()[0] for l in subprocess.run([a.exprobe, "lab", "list"], capture_output=True,
                                                                 text=True).stdout.splitlines() if l.strip()]
    rows = []
    for name in names:
        lab = start_lab(a.exprobe, name)
        try:
            if not lab["check"]:
                rows.append((name, "lab did not start", "-", "-", "-"))
                continue
            args = args_of(lab["check"])
            env = dict(os.environ, EXPROBE_PASSWORD=lab["password"] or "", NO_COLOR="1")
            out = subprocess.run([a.exprobe] + args + ["--format=json"], env=env, capture_output=True, text=True,
                                 timeout=120)
            try:
                report = json.loads(out.stdout)
                verdict = report["status"]
                codes = sorted({f["code"] for f in report["findings"] if f["severity"] == "critical"})
            except (json.JSONDecodeError, KeyError):
                verdict, codes = "error", []
            exprobe_fails = verdict == "fail"
            auth = arg(args, "auth") or ("basic" if arg(args, "service-account") else "none")
            client, outcome = None, None
            if auth in ("basic", "ntlm", "none"):
                client = "exchangelib"
                ok, outcome = exchangelib(a.python, lab, args, env)
            elif auth == "app" and not arg(args, "certificate"):
                client = "msal"
                ok, outcome = msal(a.python, lab, args, env)
                # The mailbox calls, by a real client: EWS with exchangelib's own OAuth
                # (no Graph client here: Graph-only setups are judged on the token).
                if ok and (arg(args, "api") or "both") in ("ews", "both"):
                    client = "msal+exchangelib"
                    ok, outcome = exchangelib_app(a.python, lab, args, env)
            if client is None:
                rows.append((name, f"{verdict} {','.join(codes)}", "n/a", f"({auth})", "n/a"))
                continue
            agree = (not ok) == exprobe_fails
            rows.append((name, f"{verdict} {','.join(codes)}", client, ("ok " if ok else "FAIL ") + outcome,
                         "yes" if agree else "NO"))
        finally:
            lab["proc"].terminate()
            lab["proc"].wait(timeout=10)
    w = [max(len(r[i]) for r in rows + [("scenario", "exprobe", "client", "outcome", "agrees")]) for i in range(5)]
    header = ("scenario", "exprobe", "client", "outcome", "agrees")
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    judged = [r for r in rows if r[4] in ("yes", "NO")]
    print(f"\nagreement: {sum(r[4] == 'yes' for r in judged)}/{len(judged)} judged scenarios "
          f"({len(rows) - len(judged)} not covered)")
    return 0 if all(r[4] == "yes" for r in judged) else 1


if __name__ == "__main__":
    sys.exit(main())
