"""MSAL for Python's token grants against an exprobe lab; prints the result as JSON.

Usage: msal_client_credentials.py TENANT CLIENT_ID SCOPE DNS_IP DNS_PORT HTTPS_PORT CA_FILE [AUTHORITY_HOST [GRANT]]
GRANT is one of
- `secret` (the default): client credentials with the secret in EXPROBE_CLIENT_SECRET;
- `certificate`: client credentials with a certificate, EXPROBE_CERT_FILE and EXPROBE_KEY_FILE
  (PEM), signed RS256 with the SHA-1 thumbprint, or PS256 with the SHA-256 one when
  EXPROBE_ASSERTION_ALG is ps256 (MSAL's own choice when given a SHA-256 thumbprint);
- `refresh-token`: a public client redeeming EXPROBE_REFRESH_TOKEN;
- `password`: a public client's username/password grant (EXPROBE_USERNAME, EXPROBE_PASSWORD),
  with MSAL's own user realm discovery first.
Names resolve through the lab's DNS and port 443 maps to the lab's port; MSAL itself is not
modified.
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

grant = sys.argv[9] if len(sys.argv) > 9 else "secret"
authority = f"https://{authority_host}/{tenant}"
if grant == "secret":
    app = msal.ConfidentialClientApplication(client_id, authority=authority,
                                             client_credential=os.environ["EXPROBE_CLIENT_SECRET"])
    result = app.acquire_token_for_client(scopes=[scope])
elif grant == "certificate":
    from cryptography import x509  # noqa: E402
    from cryptography.hazmat.primitives import hashes  # noqa: E402

    with open(os.environ["EXPROBE_CERT_FILE"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.environ["EXPROBE_KEY_FILE"]) as f:
        key = f.read()
    if os.environ.get("EXPROBE_ASSERTION_ALG", "").lower() == "ps256":
        # MSAL signs PS256 with x5t#S256 when it reads the certificate from a PFX file.
        import tempfile  # noqa: E402

        from cryptography.hazmat.primitives.serialization import NoEncryption, load_pem_private_key, pkcs12  # noqa: E402

        pfx = pkcs12.serialize_key_and_certificates(b"lab", load_pem_private_key(key.encode(), None), cert, None,
                                                    NoEncryption())
        handle = tempfile.NamedTemporaryFile(suffix=".pfx", delete=False)
        handle.write(pfx)
        handle.close()
        credential = {"private_key_pfx_path": handle.name}
    else:
        credential = {"private_key": key, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
    app = msal.ConfidentialClientApplication(client_id, authority=authority, client_credential=credential)
    result = app.acquire_token_for_client(scopes=[scope])
elif grant == "refresh-token":
    app = msal.PublicClientApplication(client_id, authority=authority)
    result = app.acquire_token_by_refresh_token(os.environ["EXPROBE_REFRESH_TOKEN"], scopes=[scope])
elif grant == "password":
    app = msal.PublicClientApplication(client_id, authority=authority)
    result = app.acquire_token_by_username_password(os.environ["EXPROBE_USERNAME"], os.environ["EXPROBE_PASSWORD"],
                                                    scopes=[scope])
else:
    sys.exit(f"unknown grant {grant}")
if "access_token" in result:
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    out = {"ok": True, "token_type": result.get("token_type"), "claims": claims}
    if os.environ.get("EXPROBE_PRINT_TOKEN") == "1":
        out["access_token"] = result["access_token"]
    # A Graph client's first calls with the token (Graph REST with requests, as the Graph SDKs
    # send them): each mailbox's inbox, then its newest message.
    graph_host = os.environ.get("EXPROBE_GRAPH_HOST")
    mailboxes = [m for m in os.environ.get("EXPROBE_GRAPH_MAILBOXES", "").split(",") if m]
    if graph_host and mailboxes:
        import requests  # noqa: E402

        headers = {"Authorization": f"Bearer {result['access_token']}", "Accept": "application/json"}
        graph = []
        for m in mailboxes:
            for path in (f"/v1.0/users/{m}/mailFolders/inbox", f"/v1.0/users/{m}/messages?$top=1"):
                r = requests.get(f"https://{graph_host}{path}", headers=headers, timeout=30)
                if r.status_code != 200:
                    try:
                        error = r.json().get("error", {})
                    except ValueError:
                        error = {}
                    out.update(ok=False, graph_status=r.status_code, graph_error=error.get("code"),
                               graph_message=(error.get("message") or "")[:160], graph_mailbox=m)
                    print(json.dumps(out))
                    sys.exit(1)
            graph.append(m)
        out["graph_mailboxes"] = graph
    print(json.dumps(out))
else:
    print(json.dumps({"ok": False, "error": result.get("error"), "error_codes": result.get("error_codes"),
                      "error_description": result.get("error_description")}))
    sys.exit(1)
