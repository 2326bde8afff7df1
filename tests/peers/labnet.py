"""Point a Python client at an exprobe lab without modifying the client.

The lab listens on loopback ports chosen at start. This resolves names through the lab's DNS
server and maps connections to ports 443/80 onto the lab's ports (what exprobe's --dns-server and
--connect-to do), and makes `requests` trust the lab's CA.
"""
import os
import socket

import dns.exception
import dns.resolver
import urllib3.util.connection as urllib3_connection


def use_lab(dns_ip, dns_port, https_port, http_port=None, ca_file=None):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_ip]
    resolver.port = int(dns_port)
    ports = {443: int(https_port)}
    if http_port is not None:
        ports[80] = int(http_port)
    original = urllib3_connection.create_connection

    def lab_create_connection(address, *args, **kwargs):
        host, port = address
        try:
            ip = str(resolver.resolve(host.rstrip(".") + ".", "A")[0])
        except dns.exception.DNSException as e:
            # What the system resolver raises: clients treat it as a connection error.
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: {e}") from e
        return original((ip, ports.get(port, port)), *args, **kwargs)

    urllib3_connection.create_connection = lab_create_connection
    if ca_file:
        os.environ["REQUESTS_CA_BUNDLE"] = ca_file
