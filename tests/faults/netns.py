"""A second "host" on this machine: a network namespace joined to the host by a veth pair.

The namespace gets its own address; the host end of the pair gets another, both in a /30 of
10.0.0.0/8 that no interface or route of this machine uses. Programs run inside with
``ip netns exec``. ``cut()`` drops every packet on both ends of the link, silently, as a failed
switch does (tc netem ``loss 100%`` where the kernel has netem, else a pfifo queue of length
0, which drops every packet it is given); ``heal()`` lets them through again. ``close()``
removes the namespace and the pair (deleting one end of a veth pair deletes both).
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import subprocess

TIMEOUT = 20  # seconds for any one `ip` or `tc` command


class NetnsUnavailable(RuntimeError):
    """Network namespaces, veth pairs or tc cannot be used here (the reason is the message)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address or a route in."""
    used = []
    for line in _ip("ip", "-o", "-4", "addr", "show").stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for line in _ip("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("local", "broadcast", "unicast", "multicast"):
            first = line.split()[1]
        if first == "default":
            continue
        try:
            used.append(ipaddress.ip_network(first, strict=False))
        except ValueError:
            continue
    return used


def free_subnet(rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A /30 in 10.0.0.0/8 that overlaps nothing this machine has an address or route in."""
    rng = rng or random.Random()
    used = _networks_in_use()
    for _ in range(200):
        candidate = ipaddress.ip_network(
            f"10.{rng.randrange(64, 250)}.{rng.randrange(256)}.{rng.randrange(64) * 4}/30"
        )
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise NetnsUnavailable("no free /30 found in 10.0.0.0/8")


class Namespace:
    """A network namespace with a veth link to the host; see the module's docstring."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.name = f"sweepctl-{tag}"
        self.host_if = f"sct{tag}h"
        self.ns_if = f"sct{tag}n"
        subnet = free_subnet()
        hosts = list(subnet.hosts())
        self.host_ip, self.ns_ip = str(hosts[0]), str(hosts[1])
        self._made_ns = self._made_link = False
        self.cut_with = ""
        try:
            _ip("ip", "netns", "add", self.name)
            self._made_ns = True
            _ip("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            self._made_link = True
            _ip("ip", "link", "set", self.ns_if, "netns", self.name)
            _ip("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("ip", "link", "set", self.host_if, "up")
            self._in("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self._in("ip", "link", "set", self.ns_if, "up")
            self._in("ip", "link", "set", "lo", "up")
            # Find out now whether tc can drop packets here, rather than mid-test.
            self.cut()
            self.heal()
        except BaseException:
            self.close()
            raise

    def _in(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return _ip("ip", "netns", "exec", self.name, *argv, check=check)

    def argv(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        """Drop every packet both ways on the link, silently."""
        for run, dev in ((_ip, self.host_if), (self._in, self.ns_if)):
            if self.cut_with != "pfifo":
                netem = run(
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "netem",
                    "loss",
                    "100%",
                    check=False,
                )
                if netem.returncode == 0:
                    self.cut_with = "netem loss 100%"
                    continue
            run("tc", "qdisc", "replace", "dev", dev, "root", "pfifo", "limit", "0")
            self.cut_with = "pfifo"

    def heal(self) -> None:
        """Let packets through again."""
        _ip("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
        self._in("tc", "qdisc", "del", "dev", self.ns_if, "root", check=False)

    def close(self) -> None:
        """Remove the link and the namespace (whatever of them exists)."""
        if self._made_link:
            _ip("ip", "link", "del", self.host_if, check=False)
            self._made_link = False
        if self._made_ns:
            _ip("ip", "netns", "del", self.name, check=False)
            self._made_ns = False
