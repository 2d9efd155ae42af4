"""The limit on failed authentication, per client address (``server.rateLimitPerMinute``).

Every request that fails authentication (a missing or wrong ``X-Webhook-Hmac``, push-path token
or admin token) takes one token from its address's bucket. A bucket holds
``rateLimitPerMinute`` tokens and refills at that rate, so an address may fail that many times
in a burst and then once per ``60 / rateLimitPerMinute`` seconds; past that it is answered 429
with ``Retry-After`` instead of 401. A request that authenticates is never counted and never
refused, whatever its address did before: WAHA and signal-cli share addresses with whatever
else runs beside them, and a neighbour's mistakes must not cost a message. (So the limit does
not slow down guessing a secret, which the secrets' length and the constant-time comparisons
do; it keeps a misconfigured or hostile client from filling the log and the CPU with 401s, and
tells it to back off.)

Addresses (:meth:`AuthLimiter.client`): the connection's peer, unless the peer is in
``server.trustedProxies``; then ``X-Forwarded-For`` is read from the right (the hop the trusted
proxy saw) and the first address that is not a trusted proxy is the client. An IPv6 client is
counted by its /64, the block one subscriber usually holds.

Memory is bounded: at most ``max_addresses`` buckets (the one that failed longest ago is
forgotten first), and every ``server.rateLimitCleanupMinutes`` the buckets that have refilled
are dropped. Time is trio's monotonic clock (tests move it), or any ``now`` handed in.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeAlias

import attrs
import trio

__all__ = ["AuthLimiter", "Network", "parse_networks"]

log = logging.getLogger("whatsignal.http")

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_ADDRESSES = 10_000


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``server.trustedProxies`` (validated CIDRs) as networks."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address(text: str | None) -> _Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _key(address: _Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@attrs.define(eq=False)
class _Bucket:
    tokens: float
    stamp: float
    over: bool = False


@attrs.define(eq=False, kw_only=True)
class AuthLimiter:
    """Counts failed authentication per client address (see the module docstring).

    Args:
        per_minute: failures an address may have in a minute (and the burst it may have).
        trusted_proxies: peers whose ``X-Forwarded-For`` is believed.
        cleanup_sec: how often buckets that have refilled are dropped.
        max_addresses: how many addresses are tracked at most.
        now: monotonic time in seconds.
    """

    per_minute: int
    trusted_proxies: tuple[Network, ...] = ()
    cleanup_sec: float = 300.0
    max_addresses: int = MAX_ADDRESSES
    now: Callable[[], float] = trio.current_time
    _buckets: OrderedDict[str, _Bucket] = attrs.field(init=False, factory=OrderedDict)
    _swept: float | None = attrs.field(init=False, default=None)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The key of the client behind a request from ``peer`` (``X-Forwarded-For`` values)."""
        address = _address(peer)
        if address is None:
            return (peer or "unknown")[:64]
        hops = [hop for value in forwarded_for for hop in value.split(",")]
        while hops and self._trusted(address):
            hop = _address(hops.pop())
            if hop is None:  # a trusted proxy passed on garbage: count the proxy itself
                break
            address = hop
        return _key(address)

    def _trusted(self, address: _Address) -> bool:
        return any(address in network for network in self.trusted_proxies)

    @property
    def tracked(self) -> int:
        """How many addresses are tracked now."""
        return len(self._buckets)

    def failed(self, client: str) -> int | None:
        """Count one failed authentication of ``client``.

        Returns:
            None while the client is within the limit (answer 401), else the whole seconds
            until it may fail again (answer 429 with ``Retry-After``).
        """
        now = self.now()
        self._sweep(now)
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_addresses:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = _Bucket(float(self.per_minute), now)
        else:
            self._buckets.move_to_end(client)
            elapsed = max(now - bucket.stamp, 0.0)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + elapsed * rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.over = False
            return None
        if not bucket.over:
            bucket.over = True
            log.warning(
                "client %s failed authentication more than %d times a minute; answering 429",
                client,
                self.per_minute,
            )
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def _sweep(self, now: float) -> None:
        if self._swept is None:
            self._swept = now
        if now - self._swept < self.cleanup_sec:
            return
        self._swept = now
        refill = 60.0 / self.per_minute
        for client in [
            client
            for client, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.stamp) / refill >= self.per_minute
        ]:
            del self._buckets[client]
