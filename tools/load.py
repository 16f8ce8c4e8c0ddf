"""Paced HTTPS load through the edge: a fixed request rate, every outcome recorded.

Each request opens its own TLS connection, so a failure is the server's and never a stale
client keep-alive connection's (the race a browser hides by retrying). Used by the engine
tests (rolling deploys, a killed replica, reloads: zero failed requests) and by bench/.

    with PacedLoad(8443, cafile=crt, rate=30, targets=[Target("GET", "/api/data")]) as load:
        ...  # deploy something
    assert not load.failures(), load.report()
"""

from __future__ import annotations

import http.client
import itertools
import queue
import ssl
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class VerifiedConnection(http.client.HTTPSConnection):
    """HTTPS to an address (127.0.0.1), verifying the certificate for a name (SNI and check)."""

    def __init__(self, address: str, port: int, *, server_name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(address, port, context=context, timeout=timeout)
        self.server_name = server_name
        self.ssl_context = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self.ssl_context.wrap_socket(self.sock, server_hostname=self.server_name)


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic() when the request was due
    target: Target
    status: int | None
    error: str | None
    latency_s: float
    replica: str | None
    body: bytes | None = None  # kept when the load was asked to (keep_bodies)
    request_id: str | None = None  # the edge's X-Request-ID

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status is None or not 200 <= self.status < 400


@dataclass
class LoadReport:
    requests: int
    failed: int
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    replicas: dict[str, int]
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"{self.requests} requests at {self.rate:.1f}/s, {self.failed} failed; "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms; replicas {self.replicas}"
        ]
        lines += self.failures[:20]
        return "\n".join(lines)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, int(fraction * 1000) - 1)]


class PacedLoad:
    """Requests due at a constant `rate` (round robin over `targets`), sent by `workers` threads."""

    def __init__(
        self,
        port: int,
        *,
        targets: list[Target],
        rate: float = 30.0,
        workers: int = 16,
        cafile: Path | None = None,
        host: str = "localhost",
        address: str = "127.0.0.1",
        timeout_s: float = 30.0,
        keep_bodies: bool = False,
    ) -> None:
        self.port, self.targets, self.rate, self.host, self.address = port, targets, rate, host, address
        self.timeout_s, self.keep_bodies = timeout_s, keep_bodies
        self.context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        if cafile is None:  # no certificate to check against: encrypt, verify nothing
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._due: queue.Queue[tuple[float, Target] | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        self._pacer = threading.Thread(target=self._pace, daemon=True)
        self.started = self.stopped = 0.0

    def __enter__(self) -> PacedLoad:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        self._pacer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        if not self._stop.is_set():
            self._stop.set()
            self._pacer.join()
            for _ in self._threads:
                self._due.put(None)
            for thread in self._threads:
                thread.join(self.timeout_s + 5)
            self.stopped = time.monotonic()
        return self.report()

    def _pace(self) -> None:
        targets = itertools.cycle(self.targets)
        for index in itertools.count():
            due = self.started + index / self.rate
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            if self._stop.is_set():
                return
            self._due.put((due, next(targets)))

    def _work(self) -> None:
        while (item := self._due.get()) is not None:
            due, target = item
            self._record(self.request(target, due))

    def request(self, target: Target, due: float | None = None) -> Outcome:
        """One request on a new connection; its outcome (never raises)."""
        due = time.monotonic() if due is None else due
        conn = VerifiedConnection(
            self.address, self.port, server_name=self.host, context=self.context, timeout=self.timeout_s
        )
        status: int | None = None
        error: str | None = None
        replica: str | None = None
        body: bytes | None = None
        request_id: str | None = None
        try:
            headers = {"Host": self.host, "Connection": "close"}
            if target.body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(target.method, target.path, body=target.body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            status, replica = response.status, response.getheader("X-Replica")
            request_id = response.getheader("X-Request-ID")
            body = content if self.keep_bodies else None
        except (OSError, http.client.HTTPException) as problem:
            error = f"{type(problem).__name__}: {problem}"
        finally:
            conn.close()
        return Outcome(due, target, status, error, time.monotonic() - due, replica, body, request_id)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.failed]

    def report(self, since: float = 0.0, until: float = float("inf")) -> LoadReport:
        """Figures of the requests due in [since, until) (monotonic times; default: all)."""
        chosen = [o for o in self.snapshot() if since <= o.started < until]
        latencies = sorted(o.latency_s * 1000 for o in chosen if not o.failed)
        end = min(until, self.stopped or time.monotonic())
        span = max(1e-9, end - max(since, self.started))
        failed = [o for o in chosen if o.failed]
        return LoadReport(
            requests=len(chosen),
            failed=len(failed),
            rate=len(chosen) / span,
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            max_ms=latencies[-1] if latencies else 0.0,
            replicas=dict(Counter(o.replica for o in chosen if o.replica)),
            failures=[
                f"{o.target.method} {o.target.path} at +{o.started - self.started:.2f}s: {o.status} {o.error or ''}"
                for o in failed
            ],
        )
