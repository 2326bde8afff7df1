"""exchangelib thread pool: autodiscover + impersonated inbox GetFolder per mailbox (the bench's peer).

Usage: exchangelib_pool.py MAILBOX_FILE DNS_IP DNS_PORT HTTPS_PORT HTTP_PORT CA_FILE THREADS
Password from BENCH_PASSWORD. Prints {"results": N, "errors": E} as the last line.
"""
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "peers"))
from labnet import use_lab  # noqa: E402

path, dns_ip, dns_port, https_port, http_port, ca_file, threads = sys.argv[1:8]
use_lab(dns_ip, dns_port, https_port, http_port, ca_file)

from exchangelib import IMPERSONATION, Account, Credentials  # noqa: E402
from exchangelib.autodiscover import Autodiscovery  # noqa: E402

Autodiscovery.DNS_RESOLVER_KWARGS = {"configure": False}
Autodiscovery.DNS_RESOLVER_ATTRS = {"nameservers": [dns_ip], "port": int(dns_port), "timeout": 2}
credentials = Credentials("svc-sync@contoso.com", os.environ["BENCH_PASSWORD"])
mailboxes = [l.strip() for l in open(path) if l.strip()]


def check(m):
    try:
        account = Account(primary_smtp_address=m, credentials=credentials, autodiscover=True,
                          access_type=IMPERSONATION)
        account.inbox.refresh()
        return True
    except Exception:
        return False


with ThreadPoolExecutor(max_workers=int(threads)) as pool:
    ok = list(pool.map(check, mailboxes))
print(json.dumps({"results": len(ok), "errors": ok.count(False)}))
