"""MSAL for Python's client-credentials flow against an exprobe lab; prints the result as JSON.

Usage: msal_client_credentials.py TENANT CLIENT_ID SCOPE DNS_IP DNS_PORT HTTPS_PORT CA_FILE [AUTHORITY_HOST]
The client secret comes from the environment variable EXPROBE_CLIENT_SECRET. Names resolve
through the lab's DNS and port 443 maps to the lab's port; MSAL itself is not modified.
"""
import base64
import json
import os
import sys

from labnet import use_lab

tenant, client_id, scope, dns_ip, dns_port, https_port, ca_file = sys.argv[1:8]
authority_host = sys.argv[8] if len(sys.argv) > 8 else "login.microsoftonline.com"
use_lab(dns_ip, dns_port, https_port, ca_file=ca_file)

import msal  # noqa: E402

app = msal.ConfidentialClientApplication(
    client_id,
    authority=f"https://{authority_host}/{tenant}",
    client_credential=os.environ["EXPROBE_CLIENT_SECRET"],
)
result = app.acquire_token_for_client(scopes=[scope])
if "access_token" in result:
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    print(json.dumps({"ok": True, "token_type": result.get("token_type"), "claims": claims}))
else:
    print(json.dumps({"ok": False, "error": result.get("error"), "error_codes": result.get("error_codes"),
                      "error_description": result.get("error_description")}))
    sys.exit(1)
