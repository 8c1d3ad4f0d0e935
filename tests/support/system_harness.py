"""The whole system for end-to-end tests: the four services as separate processes.

Each test module gets its own Kafka topic prefix, so its services, consumer groups and events
are its own on a broker that other runs share. Tests drive the system only through the public
contract, as the storefront and a warehouse would, and observe it only through the topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.event_log import LoggedEvent, contract_topics, read_log
from orderflow_ops.invariants import Deadlines, Report, check
from orderflow_ops.local_ports import free_local_port
from orderflow_ops.system import ServiceFailedToStart, ServiceProcess, wait_until_ready

free_port = free_local_port


@dataclass
class RunningSystem:
    infrastructure: Infrastructure
    prefix: str
    log_dir: Path
    service_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    _producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------------ processes

    def start(self, services: Sequence[str] = DEFAULT_SERVICES) -> None:
        for name in services:
            process = ServiceProcess(name, free_port(), self.log_dir / f"{name}.log")
            self.processes[name] = process
            self._launch(process)
        self.wait_until_ready(services)

    def _launch(self, process: ServiceProcess) -> None:
        process.start(
            self.infrastructure,
            {"KAFKA_TOPIC_PREFIX": self.prefix, "LOG_LEVEL": "INFO", **self.service_env},
        )

    def wait_until_ready(self, services: Sequence[str], timeout_s: float = 90) -> None:
        try:
            wait_until_ready([self.processes[name] for name in services], timeout_s=timeout_s)
        except ServiceFailedToStart as failed:
            raise RuntimeError(f"{failed}:\n{failed.service.log_tail(40)}") from failed

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        process = self.processes[name]
        self._launch(process)
        self.wait_until_ready([name])

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log_tail(30)}" for n, p in self.processes.items())

    # ------------------------------------------------------------------ the public contract

    async def publish(
        self,
        events: Sequence[Event],
        *,
        producer: str = "storefront",
        correlation_id: str | None = None,
        occurred_at: datetime | None = None,
        numbered: bool = False,
    ) -> list[Envelope]:
        """Publish as an outside system would; ``numbered`` sets sequence 1, 2, ... per call."""
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.infrastructure.kafka_bootstrap_servers,
                enable_idempotence=True,
                acks="all",
                **kafka_client_options(),
            )
            await self._producer.start()
        journey = correlation_id or f"journey-{uuid.uuid4().hex[:12]}"
        envelopes = []
        for sequence, event in enumerate(events, start=1):
            envelope = Envelope.wrap(
                event,
                producer=producer,
                correlation_id=journey,
                sequence=sequence if numbered else None,
                occurred_at=occurred_at,
            )
            await self._producer.send_and_wait(
                self.prefix + type(event).topic,
                envelope.to_bytes(),
                key=envelope.aggregate_id.encode(),
            )
            envelopes.append(envelope)
        return envelopes

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def log(self) -> list[LoggedEvent]:
        return await read_log(
            self.infrastructure.kafka_bootstrap_servers, contract_topics(self.prefix)
        )

    async def wait_for(
        self,
        accept: Callable[[list[LoggedEvent]], bool],
        *,
        timeout_s: float = 60,
        what: str = "a condition",
        explain: Callable[[list[LoggedEvent]], str] | None = None,
    ) -> list[LoggedEvent]:
        """Poll the topics until ``accept(log)`` holds; fail with the services' logs if not."""
        deadline = time.monotonic() + timeout_s
        log = await self.log()
        while not accept(log):
            if time.monotonic() > deadline:
                detail = explain(log) if explain else ""
                raise AssertionError(f"timed out waiting for {what}: {detail}\n{self.logs()}")
            await asyncio.sleep(0.5)
            log = await self.log()
        return log

    async def invariants(self, deadlines: Deadlines | None = None) -> Report:
        return check(await self.log(), now=datetime.now(UTC), deadlines=deadlines or Deadlines())


def events_of(log: Sequence[LoggedEvent], event_type: str, **data: object) -> list[Envelope]:
    """The envelopes of ``event_type`` in the log whose data fields equal ``data``."""
    found = []
    seen: set[uuid.UUID] = set()
    for entry in log:
        envelope = entry.envelope
        if envelope is None or entry.dead_letter or envelope.event_type != event_type:
            continue
        if envelope.event_id in seen:
            continue
        if all(str(envelope.data.get(k)) == str(v) for k, v in data.items()):
            seen.add(envelope.event_id)
            found.append(envelope)
    return found


def unfinished(log: Sequence[LoggedEvent], carts: set[str]) -> list[str]:
    """Carts not checked out yet, or whose order is neither completed nor cancelled."""
    waiting = []
    for cart_id in sorted(carts):
        checked_out = events_of(log, "CartCheckedOut", cart_id=cart_id)
        if not checked_out:
            waiting.append(cart_id)
            continue
        order_id = checked_out[0].data["order_id"]
        if not (
            events_of(log, "OrderCompleted", order_id=order_id)
            or events_of(log, "OrderCancelled", order_id=order_id)
        ):
            waiting.append(cart_id)
    return waiting
