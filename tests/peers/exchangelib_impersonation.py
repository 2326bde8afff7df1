"""Impersonated GetFolder of a mailbox's inbox with exchangelib against an exprobe lab; prints JSON.

Usage: exchangelib_impersonation.py EWS_URL MAILBOX USERNAME DNS_IP DNS_PORT HTTPS_PORT CA_FILE
The password comes from the environment variable EXPROBE_PASSWORD. As in the autodiscover peer
script, names resolve through the lab's DNS and port 443 maps to the lab's port; exchangelib is
not modified.
"""
import json
import os
import sys

import dns.resolver
import urllib3.util.connection as urllib3_connection

ews_url, mailbox, username, dns_ip, dns_port, https_port, ca_file = sys.argv[1:8]
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

from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials  # noqa: E402
from exchangelib.errors import EWSError  # noqa: E402

config = Configuration(
    service_endpoint=ews_url,
    credentials=Credentials(username, os.environ["EXPROBE_PASSWORD"]),
    auth_type=BASIC,
)
try:
    account = Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    inbox = account.inbox
    print(json.dumps({"ok": True, "folder_id": inbox.id, "name": inbox.name, "version": str(account.version)}))
except EWSError as e:
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
    sys.exit(1)
except Exception as e:  # anything else is a lab or test bug: report it plainly
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
    sys.exit(2)
