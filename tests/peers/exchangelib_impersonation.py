"""Impersonated GetFolder of a mailbox's inbox with exchangelib against an exprobe lab; prints JSON.

Usage: exchangelib_impersonation.py EWS_URL MAILBOX USERNAME DNS_IP DNS_PORT HTTPS_PORT CA_FILE [AUTH [ITEMS]]
AUTH is BASIC (the default), NTLM (a product set to NTLM), or GUESS: exchangelib's own choice
from the server's challenge (NTLM where it is offered). ITEMS also runs what a sync product does: the newest inbox item
(`account.inbox.all()[:1]`: FindItem and GetItem), every inbox item page by page, a full
SyncFolderItems of the inbox, the folders under msgfolderroot (FindFolder), contacts and tasks,
the calendar of 2026 (a CalendarView), ResolveNames of the mailbox's local part and its free/busy
(GetUserAvailability). The password comes from the environment variable EXPROBE_PASSWORD. As in the autodiscover peer
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

from exchangelib import BASIC, IMPERSONATION, NTLM, Account, Configuration, Credentials, EWSDateTime, EWSTimeZone  # noqa: E402
from exchangelib.folders import FolderCollection  # noqa: E402
from exchangelib.errors import EWSError  # noqa: E402

settings = {"auth_type": BASIC} if auth == "BASIC" else {"auth_type": NTLM} if auth == "NTLM" else {}
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
        # Every item, two per FindItem page (exchangelib pages by IndexedPagingOffset).
        paged = [i.subject for i in account.inbox.all().order_by("-datetime_received").only("subject")]
        qs = account.inbox.all().only("subject")
        qs.page_size = 2
        paged_by_two = [i.subject for i in qs]
        synced = [change for change in account.inbox.sync_items()]
        state = account.inbox.item_sync_state
        again = list(account.inbox.sync_items(sync_state=state))
        folders = sorted(f.name for f in FolderCollection(account=account, folders=[account.msg_folder_root]).find_folders())
        contacts = [c.display_name or c.subject for c in account.contacts.all()[:1]]
        tasks = [t.subject for t in account.tasks.all()[:1]]
        local = mailbox.split("@")[0]
        resolved = [m.email_address for m in account.protocol.resolve_names([local])]
        busy = []
        for view in account.protocol.get_free_busy_info(
            accounts=[(account, "Organizer", False)],
            start=EWSDateTime(2026, 6, 1, tzinfo=utc),
            end=EWSDateTime(2026, 6, 2, tzinfo=utc),
        ):
            busy.append({"view": view.view_type, "events": len(view.calendar_events or []),
                         "merged": view.merged})
        found = {
            "inbox_items": [i.subject for i in newest],
            "calendar_items": [e.subject for e in events],
            "paged": paged,
            "paged_by_two": paged_by_two,
            "synced": len(synced),
            "synced_again": len(again),
            "folders": folders,
            "contacts": contacts,
            "tasks": tasks,
            "resolved": resolved,
            "free_busy": busy,
        }
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
