"""MSAL for Python's device authorization grant against an exprobe lab; prints the result as JSON.

Usage: msal_device_flow.py TENANT CLIENT_ID SCOPE DNS_IP DNS_PORT HTTPS_PORT CA_FILE
MSAL starts the flow at the devicecode endpoint its OpenID discovery names, then polls the token
endpoint as it does for a person at a terminal (respecting `interval`, adding 5 s on `slow_down`,
stopping on any other error). Prints the flow's announced fields (not the device code), how long
the polling took, and the token's claims or the error. MSAL itself is not modified.
"""
import base64
import json
import sys
import time

from labnet import use_lab

tenant, client_id, scope, dns_ip, dns_port, https_port, ca_file = sys.argv[1:8]
use_lab(dns_ip, dns_port, https_port, ca_file=ca_file)

import msal  # noqa: E402

app = msal.PublicClientApplication(client_id, authority=f"https://login.microsoftonline.com/{tenant}")
flow = app.initiate_device_flow(scopes=[scope])
if "user_code" not in flow:
    print(json.dumps({"ok": False, "stage": "initiate", "error": flow.get("error"),
                      "error_codes": flow.get("error_codes")}))
    sys.exit(1)
announced = {k: flow.get(k) for k in ("user_code", "verification_uri", "expires_in", "interval", "message")}
began = time.monotonic()
result = app.acquire_token_by_device_flow(flow)
took = round(time.monotonic() - began, 2)
if "access_token" in result:
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    print(json.dumps({"ok": True, "flow": announced, "seconds": took, "claims": claims}))
else:
    print(json.dumps({"ok": False, "stage": "poll", "flow": announced, "seconds": took,
                      "error": result.get("error"), "error_codes": result.get("error_codes")}))
    sys.exit(1)
