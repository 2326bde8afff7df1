"""MSAL for Python's client-credentials flow against an exprobe lab; prints the result as JSON.

Usage: msal_client_credentials.py TENANT CLIENT_ID SCOPE DNS_IP DNS_PORT HTTPS_PORT CA_FILE
The client secret comes from the environment variable EXPROBE_CLIENT_SECRET. Names resolve
through the lab's DNS and port 443 maps to the lab's port; MSAL itself is not modified.
"""
import base64
import json
import os
import sys

import dns.resolver
import urllib3.util.connection as urllib3_connection

tenant, client_id, scope, dns_ip, dns_port, https_port, ca_file = sys.argv[1:8]
lab_resolver = dns.resolver.Resolver(configure=False)
lab_resolver.nameservers = [dns_ip]
lab_resolver.port = int(dns_port)
_original_create_connection = urllib3_connection.create_connection


def lab_create_connection(address, *args, **kwargs):
    host, port = address
    ip = str(lab_resolver.resolve(host.rstrip(".") + ".", "A")[0])
    return _original_create_connection((ip, int(https_port) if port == 443 else port), *args, **kwargs)


urllib3_connection.create_connection = lab_create_connection
os.environ["REQUESTS_CA_BUNDLE"] = ca_file

import msal  # noqa: E402

app = msal.ConfidentialClientApplication(
    client_id,
    authority=f"https://login.microsoftonline.com/{tenant}",
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
