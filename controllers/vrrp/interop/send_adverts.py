"""Multicasts VRRP messages (hex, one per line: FAMILY VRID HEX) from the
namespace it runs in, TTL/hop limit 255, every 40 ms for SECONDS."""
import socket
import sys
import time

adverts_file, interface, src4, src6, seconds = sys.argv[1:6]
adverts = [line.split() for line in open(adverts_file) if line.strip()]
ifindex = socket.if_nametoindex(interface)

s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src4))
s4.bind((src4, 0))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
s6.bind((src6, 0, 0, ifindex))

end = time.monotonic() + float(seconds)
while time.monotonic() < end:
    for family, _vrid, message in adverts:
        if family == "v4":
            s4.sendto(bytes.fromhex(message), ("224.0.0.18", 0))
        else:
            s6.sendto(bytes.fromhex(message), ("ff02::12", 0, 0, ifindex))
    time.sleep(0.04)
