"""Impersonated GetFolder of a mailbox's inbox with exchangelib against an exprobe lab; prints JSON.

Usage: exchangelib_impersonation.py EWS_URL MAILBOX USERNAME DNS_IP DNS_PORT HTTPS_PORT CA_FILE [AUTH [ITEMS]]
AUTH is BASIC (the default) or GUESS: exchangelib's own choice from the server's challenge (NTLM
where it is offered). ITEMS also reads the newest inbox item (`account.inbox.all()[:1]`: FindItem
and GetItem) and the calendar of 2026 (a CalendarView). The password comes from the environment variable EXPROBE_PASSWORD. As in the autodiscover peer
script, names resolve through the lab's DNS and port 443 maps to the lab's port; exchangelib is
not modified.
"""
import json
import os
import sys

from labnet import use_lab

ews_url, mailbox, username, dns_ip, dns_port, https_port, ca_file = sys.argv[1:8]
auth = sys.argv[8] if len(sys.argv) > 8 else "BASIC"
items = len(sys.argv) > 9 and sys.argv[9] == "ITEMS"
use_lab(dns_ip, dns_port, https_port, ca_file=ca_file)

from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, EWSDateTime, EWSTimeZone  # noqa: E402
from exchangelib.errors import EWSError  # noqa: E402

settings = {"auth_type": BASIC} if auth == "BASIC" else {}
config = Configuration(
    service_endpoint=ews_url,
    credentials=Credentials(username, os.environ["EXPROBE_PASSWORD"]),
    **settings,
)
try:
    account = Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    inbox = account.inbox
    found = {}
    if items:
        newest = list(account.inbox.all()[:1])
        utc = EWSTimeZone("UTC")
        events = list(account.calendar.view(start=EWSDateTime(2026, 1, 1, tzinfo=utc),
                                            end=EWSDateTime(2027, 1, 1, tzinfo=utc))[:1])
        found = {"inbox_items": [i.subject for i in newest], "calendar_items": [e.subject for e in events]}
    print(
        json.dumps(
            {
                "ok": True,
                "folder_id": inbox.id,
                "name": inbox.name,
                "version": str(account.version),
                "auth_type": account.protocol.auth_type,
                **found,
            }
        )
    )
except EWSError as e:
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
    sys.exit(1)
except Exception as e:  # anything else is a lab or test bug: report it plainly
    print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
    sys.exit(2)
