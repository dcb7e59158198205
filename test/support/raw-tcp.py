#!/usr/bin/env python3
"""Send hand-made TCP segments with any source address (a forger's tool).

Reads one JSON document on standard input:
  {"segments": [{"src", "dst", "sport", "dport", "flags", "seq", "ack",
                 "data" (optional, text), "after_ms" (optional)}, ...]}
flags is a string of S A F R P (SYN ACK FIN RST PSH). Each segment is sent
once, after_ms after the previous one; a missing seq or ack is random. Prints
the number of segments sent. Standard library only: raw sockets, root needed.
"""
import ipaddress
import json
import random
import socket
import struct
import sys
import time

FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_segment(src, dst, seg) -> bytes:
    flags = sum(FLAG_BITS[f] for f in seg["flags"])
    seq = seg.get("seq", random.getrandbits(32))
    ack = seg.get("ack", random.getrandbits(32))
    data = seg.get("data", "").encode()
    header = struct.pack("!HHIIBBHHH", seg["sport"], seg["dport"], seq, ack, 5 << 4, flags, 64240, 0, 0)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header) + len(data))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(header) + len(data), socket.IPPROTO_TCP)
    csum = checksum(pseudo + header + data)
    return header[:16] + struct.pack("!H", csum) + header[18:] + data


def ip_packet(src, dst, tcp: bytes) -> bytes:
    if src.version == 4:
        ident = random.getrandbits(16)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident, 0, 64, socket.IPPROTO_TCP, 0, src.packed, dst.packed)
        return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + tcp
    return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), socket.IPPROTO_TCP, 64, src.packed, dst.packed) + tcp


def main() -> None:
    spec = json.load(sys.stdin)
    # IPPROTO_RAW: the kernel sends the header we built, source address included.
    v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    for seg in spec["segments"]:
        if seg.get("after_ms"):
            time.sleep(seg["after_ms"] / 1000)
        src = ipaddress.ip_address(seg["src"])
        dst = ipaddress.ip_address(seg["dst"])
        packet = ip_packet(src, dst, tcp_segment(src, dst, seg))
        (v4 if src.version == 4 else v6).sendto(packet, (str(dst), 0))
        sent += 1
    print(sent)


main()
