"""An app's impersonated GetFolder with exchangelib's OAuth (client credentials) against an exprobe lab.

Usage: exchangelib_app.py EWS_HOST MAILBOX TENANT CLIENT_ID DNS_IP DNS_PORT HTTPS_PORT CA_FILE
The client secret comes from the environment variable EXPROBE_CLIENT_SECRET. exchangelib gets the
token from the lab's authority itself (oauthlib) and calls EWS with it; it is not modified.
With EXPROBE_ACCESS_TOKEN set (a token MSAL got by another grant: a certificate, a refresh token,
a password), exchangelib uses that token instead, as an app (client credentials) or, with
EXPROBE_DELEGATED=1, as the signed-in service account (OAuth2AuthorizationCodeCredentials).
"""
import json
import os
import sys

from labnet import use_lab

host, mailbox, tenant, client_id, dns_ip, dns_port, https_port, ca_file = sys.argv[1:9]
use_lab(dns_ip, dns_port, https_port, ca_file=ca_file)

from exchangelib import IMPERSONATION, OAUTH2, Account, Configuration, Identity, OAuth2Credentials  # noqa: E402
from exchangelib.credentials import OAuth2AuthorizationCodeCredentials  # noqa: E402
from exchangelib.errors import EWSError  # noqa: E402
from oauthlib.oauth2 import OAuth2Token  # noqa: E402

given = os.environ.get("EXPROBE_ACCESS_TOKEN")
token = OAuth2Token({"access_token": given, "token_type": "Bearer", "expires_in": 3000}) if given else None
if token is not None and os.environ.get("EXPROBE_DELEGATED") == "1":
    credentials = OAuth2AuthorizationCodeCredentials(client_id=client_id, client_secret=None, access_token=token)
else:
    credentials = OAuth2Credentials(
        client_id=client_id,
        client_secret=os.environ.get("EXPROBE_CLIENT_SECRET", ""),
        tenant_id=tenant,
        identity=Identity(primary_smtp_address=mailbox),
        access_token=token,
    )
config = Configuration(server=host, credentials=credentials, auth_type=OAUTH2)
try:
    account = Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    inbox = account.inbox
    print(json.dumps({"ok": True, "name": inbox.name, "version": str(account.version)}))
except EWSError as e:
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
    sys.exit(1)
except Exception as e:  # a lab or client problem: reported plainly
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)[:200]}))
    sys.exit(2)
