"""Run exchangelib's SOAP autodiscover against an exprobe lab and print the EWS URL as JSON.

Usage: exchangelib_autodiscover.py EMAIL DNS_IP DNS_PORT HTTPS_PORT HTTP_PORT CA_FILE [USERNAME]
The password (if USERNAME is given) comes from the environment variable EXPROBE_PASSWORD. With
EXPROBE_CLIENT_ID and EXPROBE_TENANT set instead, exchangelib autodiscovers with its own OAuth
(client credentials, the secret in EXPROBE_CLIENT_SECRET), as against Exchange Online.

The lab listens on loopback ports chosen at start: name resolution is pointed at the lab's DNS
server and connections to ports 443/80 are mapped to the lab's ports, the same way exprobe's
--dns-server and --connect-to do. exchangelib itself is not modified.
"""
import json
import os
import sys

from labnet import use_lab

email, dns_ip, dns_port, https_port, http_port, ca_file = sys.argv[1:7]
username = sys.argv[7] if len(sys.argv) > 7 else None
use_lab(dns_ip, dns_port, https_port, http_port, ca_file)

from exchangelib import Credentials  # noqa: E402
from exchangelib.autodiscover import Autodiscovery, clear_cache  # noqa: E402

Autodiscovery.DNS_RESOLVER_KWARGS = {"configure": False}
Autodiscovery.DNS_RESOLVER_ATTRS = {"nameservers": [dns_ip], "port": int(dns_port), "timeout": 2}
clear_cache()

if os.environ.get("EXPROBE_CLIENT_ID"):
    from exchangelib import Identity, OAuth2Credentials  # noqa: E402

    credentials = OAuth2Credentials(client_id=os.environ["EXPROBE_CLIENT_ID"],
                                    client_secret=os.environ["EXPROBE_CLIENT_SECRET"],
                                    tenant_id=os.environ["EXPROBE_TENANT"], identity=Identity(primary_smtp_address=email))
else:
    credentials = Credentials(username, os.environ["EXPROBE_PASSWORD"]) if username else None
try:
    ad_response, protocol = Autodiscovery(email=email, credentials=credentials).discover()
except Exception as e:  # the test reports the exception class and message
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
    sys.exit(1)
print(json.dumps({
    "ews_url": ad_response.ews_url,
    "autodiscover_smtp_address": ad_response.autodiscover_smtp_address,
    "auth_type": protocol.config.auth_type,
}))
