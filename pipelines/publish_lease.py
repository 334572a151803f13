"""A lease on a registered model, so two publishes never judge the gate at once.

MLflow has no compare-and-set on aliases: two publishes that both read "no champion"
both become the first version, and the last one to move ``@champion`` wins without
meeting the gate. The lease is a registered-model tag ``mediaframe.lease`` holding an
owner and an expiry. A publisher takes it when no unexpired lease of another owner is
there, writes its own, waits ``SETTLE`` seconds and re-reads: only the owner whose value
survived goes on; the loser waits and tries again. The holder re-reads it once more just
before the alias moves (``check``), and drops it when done.

Scope: advisory and only among publishers that use it (this module), against one
tracking store; it serialises the read of the champion through the alias move. It is
exact as long as the gap between one publisher's read and write of the tag is shorter
than ``SETTLE`` (one store round trip against half a second); a holder that dies leaves
a lease that others wait out until its expiry (``TTL``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipelines.publish_contract import PublishError

LEASE_TAG = "mediaframe.lease"
TTL = 900.0  # seconds a lease lasts: longer than any gate plus logging of the model
SETTLE = 0.5  # seconds between writing the lease and re-reading it
WAIT = 1800.0  # seconds a publisher waits for another's lease before giving up


def _ensure_model(client: MlflowClient, name: str) -> None:
    """The lease lives on the registered model, so the first publish creates it."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        with contextlib.suppress(MlflowException):  # another publisher created it first
            client.create_registered_model(name)


def _read(client: MlflowClient, name: str) -> dict | None:
    raw = client.get_registered_model(name).tags.get(LEASE_TAG)
    try:
        lease = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None
    return lease if isinstance(lease, dict) else None


class Lease:
    """One publisher's hold on ``name``; use through ``hold``."""

    def __init__(self, client: MlflowClient, name: str) -> None:
        self.client, self.name = client, name
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _try(self) -> bool:
        lease = _read(self.client, self.name)
        if lease and lease.get("owner") != self.owner and lease.get("expiry", 0) > time.time():
            return False
        value = json.dumps({"owner": self.owner, "expiry": time.time() + TTL})
        self.client.set_registered_model_tag(self.name, LEASE_TAG, value)
        time.sleep(SETTLE)
        lease = _read(self.client, self.name)
        return bool(lease) and lease.get("owner") == self.owner

    def acquire(self, wait: float = WAIT) -> None:
        _ensure_model(self.client, self.name)
        deadline = time.monotonic() + wait
        while not self._try():
            if time.monotonic() > deadline:
                raise PublishError(
                    f"registered model {self.name}: another publish holds {LEASE_TAG} "
                    f"({_read(self.client, self.name)}); retry later"
                )
            time.sleep(SETTLE)

    def check(self) -> None:
        """Re-read before the alias moves: refuse if the lease is no longer ours."""
        lease = _read(self.client, self.name)
        if not lease or lease.get("owner") != self.owner:
            raise PublishError(
                f"registered model {self.name}: lost {LEASE_TAG} to {lease}; alias not moved"
            )

    def release(self) -> None:
        with contextlib.suppress(MlflowException):
            lease = _read(self.client, self.name)
            if lease and lease.get("owner") == self.owner:
                self.client.delete_registered_model_tag(self.name, LEASE_TAG)


@contextlib.contextmanager
def hold(client: MlflowClient, name: str, wait: float = WAIT) -> Iterator[Lease]:
    """Hold the lease on ``name`` for the block; released however the block ends."""
    lease = Lease(client, name)
    lease.acquire(wait)
    try:
        yield lease
    finally:
        lease.release()
