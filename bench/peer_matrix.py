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

Graph readiness (app-only EWS setups, where exprobe reports `graph_readiness`): for each mailbox
MSAL gets the same app's Graph token and plain REST (`requests`) reads the mailbox's inbox and
newest message; the mailbox is ready for Graph when both answer 200. Agreement: exprobe's verdict
per mailbox is the client's (the `graph` column; a disagreement fails the scenario).

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
    # A product set to NTLM (the check's --auth ntlm) uses NTLM; otherwise exchangelib picks.
    scheme = "NTLM" if arg(args, "auth") == "ntlm" else "GUESS"
    for m in mailboxes:
        inbox, err = run([py, os.path.join(PEERS, "exchangelib_impersonation.py"), ews_url, m, username,
                          dns_ip, dns_port, https_port, lab["ca"], scheme, "ITEMS"], env)
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


GRAPH_HOSTS = {
    None: "graph.microsoft.com",
    "global": "graph.microsoft.com",
    "usgov-gcchigh": "graph.microsoft.us",
    "usgov-dod": "dod-graph.microsoft.us",
    "china": "microsoftgraph.chinacloudapi.cn",
}


def exchangelib_app(py, lab, args, env, token=None, delegated=False):
    """exchangelib and each mailbox's impersonated inbox over EWS: with its own OAuth (client
    credentials), or with the token MSAL got by another grant."""
    _, ews_host = CLOUDS.get(arg(args, "cloud"), CLOUDS[None])
    dns_ip, dns_port = lab["dns"].rsplit(":", 1)
    https_port = lab["https"].rsplit(":", 1)[1]
    env = dict(env, EXPROBE_CLIENT_SECRET=lab["password"] or "")
    found = ""
    if token:
        env["EXPROBE_ACCESS_TOKEN"] = token
        if delegated:
            env["EXPROBE_DELEGATED"] = "1"
    else:
        # exchangelib's own autodiscover with its OAuth first; where it finds nothing, the
        # product is configured with Exchange Online's host (as exchangelib's docs advise).
        first = all_args(args, "mailbox")[0]
        ad_env = dict(env, EXPROBE_CLIENT_ID=arg(args, "client-id") or "", EXPROBE_TENANT=arg(args, "tenant") or "")
        http_port = lab["http"].rsplit(":", 1)[1]
        got, err = run([py, os.path.join(PEERS, "exchangelib_autodiscover.py"), first, dns_ip, dns_port, https_port,
                        http_port, lab["ca"]], ad_env)
        if got and got.get("ews_url"):
            ews_host = got["ews_url"].split("/")[2]
            found = f"autodiscover found {ews_host}; "
        else:
            found = f"autodiscover: {(got or {}).get('error') or err}, server given; "
    for m in all_args(args, "mailbox"):
        got, err = run([py, os.path.join(PEERS, "exchangelib_app.py"), ews_host, m, arg(args, "tenant") or "",
                        arg(args, "client-id") or "", dns_ip, dns_port, https_port, lab["ca"]], env)
        if got is None:
            return False, f"EWS, {m}: {err}"
        if not got.get("ok"):
            return False, f"EWS, {m}: {got.get('error')}"
    return True, found + "EWS inbox(es)" + (" with MSAL's token" if token else " (exchangelib's OAuth)")


def msal(py, lab, args, env, grant="secret", graph=False):
    """MSAL with the grant the setup uses; with `graph`, Graph calls for each mailbox with its token."""
    tenant = arg(args, "tenant")
    client_id = arg(args, "client-id")
    dns_ip, dns_port = lab["dns"].rsplit(":", 1)
    https_port = lab["https"].rsplit(":", 1)[1]
    authority, ews_host = CLOUDS.get(arg(args, "cloud"), CLOUDS[None])
    env = dict(env, EXPROBE_CLIENT_SECRET=lab["password"] or "", EXPROBE_PRINT_TOKEN="1")
    if grant == "certificate":
        env.update(EXPROBE_CERT_FILE=arg(args, "certificate"), EXPROBE_KEY_FILE=arg(args, "private-key") or "",
                   EXPROBE_ASSERTION_ALG=arg(args, "assertion-alg") or "rs256")
    scope = f"https://{ews_host}/.default"
    if grant in ("refresh-token", "password"):
        env.update(EXPROBE_REFRESH_TOKEN=lab["password"] or "", EXPROBE_USERNAME=arg(args, "service-account") or "")
        scope = f"https://{ews_host}/EWS.AccessAsUser.All"
    if graph:
        scope = f"https://{GRAPH_HOSTS.get(arg(args, 'cloud'), GRAPH_HOSTS[None])}/.default"
        env.update(EXPROBE_GRAPH_HOST=GRAPH_HOSTS.get(arg(args, "cloud"), GRAPH_HOSTS[None]),
                   EXPROBE_GRAPH_MAILBOXES=",".join(all_args(args, "mailbox")))
    got, err = run([py, os.path.join(PEERS, "msal_client_credentials.py"), tenant, client_id, scope, dns_ip,
                    dns_port, https_port, lab["ca"], authority, grant], env)
    if got is None:
        return False, err, None
    if got.get("ok"):
        what = f"token ({grant})"
        if graph:
            what += f", Graph inbox+messages of {len(got.get('graph_mailboxes', []))}"
        return True, what, got.get("access_token")
    if got.get("graph_status"):
        return False, f"Graph {got['graph_status']} {got.get('graph_error')} ({got.get('graph_mailbox')})", None
    return False, f"{got.get('error')} {got.get('error_codes')}", None


def graph_readiness(py, lab, args, env, report):
    """Per mailbox, whether plain REST with MSAL's Graph token reads it, against exprobe's verdict."""
    if not report or not report.get("counts", {}).get("graph_readiness"):
        return None, ""
    grant = "certificate" if arg(args, "certificate") else "secret"
    agree, total, differ = 0, 0, []
    for m in report.get("mailboxes", []):
        verdict = (m.get("graph_readiness") or {}).get("ready")
        if verdict is None:
            continue
        one = [a for a in args if not a.startswith("--mailbox=")] + [f"--mailbox={m['address']}"]
        ok, _, _ = msal(py, lab, one, env, grant, graph=True)
        total += 1
        if ok == verdict:
            agree += 1
        else:
            differ.append(f"{m['address']}: exprobe {verdict}, client {ok}")
    return agree == total, f"{agree}/{total}" + (f" ({'; '.join(differ)})" if differ else "")


def oauth_clients(py, lab, args, env, auth):
    """The real clients of an OAuth setup: MSAL with its grant, then the mailbox calls with a
    real client for each API the check uses (exchangelib for EWS, Graph REST for Graph)."""
    api = arg(args, "api") or "both"
    if auth == "app":
        grant = "certificate" if arg(args, "certificate") else "secret"
    elif auth == "refresh-token":
        grant = "refresh-token"
    else:
        grant = "password"
    clients = ["msal"]
    ok, outcome, token = msal(py, lab, args, env, grant)
    if not ok:
        return "msal", ok, outcome
    steps = [outcome]
    if api in ("ews", "both"):
        clients.append("exchangelib")
        if auth == "app" and grant == "secret":
            ok, outcome = exchangelib_app(py, lab, args, env)
        else:
            ok, outcome = exchangelib_app(py, lab, args, env, token=token, delegated=auth != "app")
        steps.append(outcome)
        if not ok:
            return "+".join(clients), ok, "; ".join(steps)
    if api in ("graph", "both") and auth == "app":
        clients.append("graph")
        ok, outcome, _ = msal(py, lab, args, env, grant, graph=True)
        steps.append(outcome)
    return "+".join(clients), ok, "; ".join(steps)


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
                rows.append((name, "lab did not start", "-", "-", "-", "-"))
                continue
            args = args_of(lab["check"])
            env = dict(os.environ, EXPROBE_PASSWORD=lab["password"] or "", NO_COLOR="1")
            out = subprocess.run([a.exprobe] + args + ["--format=json"], env=env, capture_output=True, text=True,
                                 timeout=120)
            report = None
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
            elif auth in ("app", "refresh-token", "password-grant"):
                client, ok, outcome = oauth_clients(a.python, lab, args, env, auth)
            elif auth == "token":
                # A token handed over as it is: exchangelib calls EWS with it.
                client = "exchangelib"
                ok, outcome = exchangelib_app(a.python, lab, args, env, token=lab["password"])
            if client is None:
                rows.append((name, f"{verdict} {','.join(codes)}", "n/a", f"({auth})", "-", "n/a"))
                continue
            agree = (not ok) == exprobe_fails
            graph_agrees, graph = graph_readiness(a.python, lab, args, env, report) if auth == "app" else (None, "")
            if graph_agrees is False:
                agree = False
            rows.append((name, f"{verdict} {','.join(codes)}", client, ("ok " if ok else "FAIL ") + outcome,
                         graph or "-", "yes" if agree else "NO"))
        finally:
            lab["proc"].terminate()
            lab["proc"].wait(timeout=10)
    header = ("scenario", "exprobe", "client", "outcome", "graph", "agrees")
    w = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    judged = [r for r in rows if r[5] in ("yes", "NO")]
    graph = [r for r in judged if r[4] != "-"]
    print(f"\nagreement: {sum(r[5] == 'yes' for r in judged)}/{len(judged)} judged scenarios "
          f"({len(rows) - len(judged)} not covered); Graph readiness judged in {len(graph)}")
    return 0 if all(r[5] == "yes" for r in judged) else 1


if __name__ == "__main__":
    sys.exit(main())
