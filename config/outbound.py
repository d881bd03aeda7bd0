"""Whether a host we are asked to POST to is on the public internet.

One check for every outbound call a tenant names the URL of (sellers' webhook endpoints,
customers' low-balance alerts): a tenant must not make us POST into our own network
(loopback, private ranges, link-local such as a cloud's metadata service). Each caller
decides, by its own setting, whether private addresses are allowed (local runs and tests).
"""

import ipaddress
import socket


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def refused_address(host: str, port: int) -> str | None:
    """Why `host` may not be called (a non-public address, or none); None if it may."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return f"{host} resolves to the non-public address {address}"
    return None
