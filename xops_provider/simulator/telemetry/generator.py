"""N network events computed from their index: as Cato ``eventsFeed`` records and as Defender
``DeviceNetworkEvents`` rows of the same connections.

Nothing is stored: event ``i`` is a pure function of the seed and ``i`` (a SplitMix64 hash picks its
user, domain, port and verdict), so two million events cost a few hundred bytes, a page of 3000
costs milliseconds, and a benchmark can plant a known number of visits to one domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from xops_provider.models.timestamps import TICKS_PER_SECOND
from xops_provider.simulator.constants import CATO_ACCOUNT_ID

_MASK = (1 << 64) - 1
_PREFIXES = ("www", "cdn", "api", "static", "login", "news", "shop", "mail", "docs", "img")
_WORDS = (
    "northwind", "fabrikam", "tailspin", "litware", "adatum", "proseware", "wingtip", "woodgrove",
    "lucerne", "margie", "alpine", "treyresearch", "blueyonder", "humongous", "wideworld", "coho",
)  # fmt: skip
_PROCESSES = ("msedge.exe", "chrome.exe", "teams.exe", "outlook.exe", "onedrive.exe")
_POPS = ("Frankfurt", "Amsterdam", "Paris", "London", "Dublin")
_EPOCH = dt.datetime(1970, 1, 1)


def _mix(value: int) -> int:
    # SplitMix64's finaliser: cheap, and every bit of the index reaches every bit of the hash.
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def cato_time(ticks: int) -> tuple[str, str]:
    """``(ISO text to the second, epoch milliseconds)`` as Cato writes an event's time.

    :param ticks: 100 ns ticks.
    """
    return _second_text(ticks // TICKS_PER_SECOND), str(ticks // 10_000)


@lru_cache(maxsize=1024)
def _second_text(seconds: int) -> str:
    # Generated events are a fraction of a second apart: most share their second with a neighbour.
    return (_EPOCH + dt.timedelta(seconds=seconds)).isoformat() + "Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkEvent:
    """One outbound connection.

    :param ticks: when, in 100 ns ticks.
    :param user: the user's UPN.
    :param device: the device's host name.
    :param device_id: its Defender device id (40 hex digits).
    :param src_ip: the device's address.
    :param domain: the destination's DNS name.
    :param dest_ip: the destination's address.
    :param port: the destination port.
    :param blocked: whether the connection was refused.
    :param process: the initiating process's file name.
    :param index: its position in the generator.
    """

    ticks: int
    user: str
    device: str
    device_id: str
    src_ip: str
    domain: str
    dest_ip: str
    port: int
    blocked: bool
    process: str
    index: int


def cato_record(event: NetworkEvent, *, display_name: str = "", url: str | None = None) -> dict[str, Any]:
    """The event as an ``eventsFeed`` record (keys as in real Cato records).

    :param event: the connection.
    :param display_name: the user's name, when known.
    :param url: the URL requested; the domain's root when omitted.
    """
    when, millis = cato_time(event.ticks)
    url = url or (f"https://{event.domain}/" if event.port == 443 else f"http://{event.domain}/")
    return {
        "time": when,
        "fieldsMap": {
            "event_type": "Security",
            "event_sub_type": "Internet Firewall",
            "action": "Block" if event.blocked else "Allow",
            "rule": "Block risky categories" if event.blocked else "Track All",
            "account_id": CATO_ACCOUNT_ID,
            "internalId": f"{_mix(event.index ^ 0xCA70) & 0xFFFFFFFFFF:010x}",
            "event_count": "1",
            "src_ip": event.src_ip,
            "src_is_site_or_vpn": "VPN User",
            "src_site": display_name or event.user.split("@", 1)[0],
            "vpn_user_email": event.user,
            "user_name": display_name,
            "device_name": event.device,
            "os_type": "OS_WINDOWS",
            "dest_ip": event.dest_ip,
            "dest_port": str(event.port),
            "ip_protocol": "TCP",
            "domain_name": event.domain,
            "url": url,
            "full_path_url": url,
            "application": "HTTP(S)",
            "pop_name": _POPS[event.index % len(_POPS)],
            "traffic_direction": "OUTBOUND",
            "time": millis,
            "time_str": when,
        },
    }


def device_row(event: NetworkEvent, *, remote_url: str | None = None) -> dict[str, Any]:
    """The event as a stored ``DeviceNetworkEvents`` row.

    :param event: the connection.
    :param remote_url: ``RemoteUrl`` when not the bare domain (Defender writes either).
    """
    return {
        "Timestamp": event.ticks,
        "DeviceId": event.device_id,
        "DeviceName": event.device,
        "ActionType": "ConnectionFailed" if event.blocked else "ConnectionSuccess",
        "RemoteIP": event.dest_ip,
        "RemotePort": event.port,
        "RemoteUrl": remote_url or event.domain,
        "LocalIP": event.src_ip,
        "LocalPort": 49152 + event.index % 16000,
        "Protocol": "Tcp",
        "InitiatingProcessAccountUpn": event.user,
        "InitiatingProcessAccountName": event.user.split("@", 1)[0],
        "InitiatingProcessFileName": event.process,
        "ReportId": str(10_000 + event.index),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkGenerator:
    """``count`` events spread evenly from ``start`` to ``end``, in time order.

    :param count: how many.
    :param start: the first event's time, in ticks.
    :param end: the time after the last event, in ticks.
    :param seed: varies users, domains and verdicts.
    :param users: distinct users (``user00000@<user_domain>`` …).
    :param domains: distinct destination domains.
    :param user_domain: the users' mail domain.
    :param plant_domain: a domain every ``plant_every``-th event visits (the events ``i`` with
        ``i % plant_every == plant_every - 1``), so a benchmark knows how many to expect.
    :param plant_every: the planting period; 0 plants nothing.
    :param plant_user: the user of planted events; the drawn one when omitted.
    """

    count: int
    start: int
    end: int
    seed: int = 0
    users: int = 500
    domains: int = 2000
    user_domain: str = "contoso-sim.com"
    plant_domain: str | None = None
    plant_every: int = 0
    plant_user: str | None = None

    def __post_init__(self) -> None:
        if self.count < 0 or self.users < 1 or self.domains < 1 or self.plant_every < 0:
            raise ValueError("count, users, domains and plant_every must be positive")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.plant_every and not self.plant_domain:
            raise ValueError("plant_every needs plant_domain")

    def __len__(self) -> int:
        return self.count

    @property
    def planted(self) -> int:
        """How many events visit ``plant_domain``."""
        return self.count // self.plant_every if self.plant_every and self.plant_domain else 0

    def ticks(self, index: int) -> int:
        return self.start + (self.end - self.start) * index // max(1, self.count)

    def first_at_or_after(self, ticks: int) -> int:
        """The smallest index whose time is at least ``ticks`` (``count`` when none).

        :param ticks: the bound.
        """
        span = self.end - self.start
        if ticks <= self.start:
            return 0
        if span <= 0:
            return self.count
        index = min(self.count, -(-(ticks - self.start) * self.count // span))
        # The integer division in ticks() can land one index either side.
        while index > 0 and self.ticks(index - 1) >= ticks:
            index -= 1
        while index < self.count and self.ticks(index) < ticks:
            index += 1
        return index

    def event(self, index: int) -> NetworkEvent:
        """Event ``index``.

        :param index: in ``[0, count)``.
        """
        value = _mix(((self.seed & 0xFFFFFFFF) << 32) ^ index)
        user_no = value % self.users
        domain_no = (value >> 20) % self.domains
        user = f"user{user_no:05d}@{self.user_domain}"
        domain = f"{_PREFIXES[domain_no % 10]}.{_WORDS[(domain_no // 10) % 16]}{domain_no // 160}.com"
        if self.plant_every and index % self.plant_every == self.plant_every - 1:
            domain = self.plant_domain or domain
            user = self.plant_user or user
        return NetworkEvent(
            ticks=self.ticks(index),
            user=user,
            device=f"ws-{user_no:05d}.{self.user_domain}",
            device_id=f"{_mix(self.seed ^ user_no):016x}{_mix(user_no):016x}{user_no:08x}",
            src_ip=f"10.{40 + (user_no >> 16) % 200}.{(user_no >> 8) & 255}.{user_no & 255}",
            domain=domain,
            dest_ip=f"198.18.{(domain_no >> 8) & 255}.{domain_no & 255}",
            port=80 if value >> 40 & 15 == 0 else 443,
            blocked=(value >> 44) % 50 == 0,
            process=_PROCESSES[(value >> 48) % len(_PROCESSES)],
            index=index,
        )

    def cato_records(self, first: int, stop: int) -> list[dict[str, Any]]:
        """Events ``[first, stop)`` as Cato records.

        :param first: the first index.
        :param stop: the index after the last.
        """
        return [cato_record(self.event(index)) for index in range(first, min(stop, self.count))]

    def rows(self, lower: int | None, upper: int | None) -> Iterator[dict[str, Any]]:
        """``DeviceNetworkEvents`` rows with ``lower <= Timestamp <= upper``, oldest first.

        :param lower: inclusive lower bound in ticks.
        :param upper: inclusive upper bound in ticks.
        """
        first = 0 if lower is None else self.first_at_or_after(lower)
        stop = self.count if upper is None else self.first_at_or_after(upper + 1)
        for index in range(first, stop):
            yield device_row(self.event(index))
