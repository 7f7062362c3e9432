"""Publishing parameter messages to Kafka with bounded waits and loud failures.

The parameter job must never hang on a broker that is down, nor report an image as
published when Kafka did not acknowledge it. So the producer waits for all in-sync
replicas, retries a bounded number of times within a bounded delivery time, and every
failure (no broker at start-up, a send that cannot be queued, a delivery that expired)
surfaces as one `PublishError` naming the broker.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kafka.producer.future import FutureRecordMetadata

#: Bound on each wait (start-up, queueing a message, delivering it), in seconds.
DEFAULT_TIMEOUT_S = 30.0
#: A batch waits this long for more messages to the same partition before being sent.
LINGER_MS = 20
#: Batch compression. kafka-python checksums every batch (CRC-32C over the compressed
#: bytes; the crc32c package computes it in C), so compression costs CPU twice on the
#: producer: zstd takes ~0.02 s per 4096^2 image's 1.2 MB of messages against ~0.09 s for
#: gzip, at a similar size; Spark's Kafka source reads it with the zstd-jni it ships.
COMPRESSION: Final = "zstd"
#: Upper bound on one batch before compression; below Kafka's 1 MB default message limit,
#: and large enough that a batch carries several 100-250 KB parameter messages.
BATCH_BYTES = 768 * 1024


class PublishError(RuntimeError):
    """Kafka did not take or acknowledge messages within the bounded retries."""


class Publisher:
    """A Kafka producer for one topic; use as a context manager, one per worker task.

    Args:
        bootstrap: Kafka bootstrap servers, e.g. 127.0.0.1:9092.
        topic: the topic every message goes to.
        timeout_s: bound on each wait; a broker that stays unreachable fails the
            publisher after about this long.
        client_id: the producer's name in broker logs.

    Raises:
        PublishError: no broker answered at `bootstrap` within `timeout_s`.
    """

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 client_id: str = "nasaflow-parameters") -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.bootstrap = bootstrap
        self.topic = topic
        self._timeout_s = timeout_s
        self._pending: list[FutureRecordMetadata] = []
        timeout_ms = int(timeout_s * 1000)
        request_timeout_ms = max(1000, timeout_ms // 3)
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                retries=5,
                retry_backoff_ms=200,
                request_timeout_ms=request_timeout_ms,
                delivery_timeout_ms=max(timeout_ms, request_timeout_ms + LINGER_MS),
                max_block_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
                reconnect_backoff_max_ms=2000,
                linger_ms=LINGER_MS,
                batch_size=BATCH_BYTES,
                compression_type=COMPRESSION,
            )
        except KafkaError as exc:
            raise PublishError(f"Kafka at {bootstrap} is unreachable: {exc}") from exc

    def send(self, key: str, value: bytes) -> None:
        """Queue one message keyed by `key` (UTF-8); delivery is checked by `flush`.

        Raises:
            PublishError: the message could not be queued within the timeout.
        """
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(self.topic, key=key.encode("utf-8"), value=value)
        except KafkaError as exc:
            raise PublishError(
                f"Kafka at {self.bootstrap} did not take a message for {key!r} "
                f"(topic {self.topic}): {exc}"
            ) from exc
        self._pending.append(future)

    def flush(self) -> int:
        """Wait until every queued message is acknowledged; returns how many were.

        Raises:
            PublishError: a message was not acknowledged within the bounded retries.
        """
        from kafka.errors import KafkaError

        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=self._timeout_s * 2)
        except KafkaError as exc:
            raise PublishError(
                f"Kafka at {self.bootstrap} did not acknowledge {len(pending)} messages "
                f"(topic {self.topic}): {exc}"
            ) from exc
        failed = [future for future in pending if not future.succeeded()]
        if failed:
            first = failed[0].exception or "no acknowledgement within the timeout"
            raise PublishError(
                f"Kafka at {self.bootstrap} did not acknowledge {len(failed)} of "
                f"{len(pending)} messages (topic {self.topic}): {first}"
            )
        return len(pending)

    def close(self) -> None:
        """Close the producer without waiting for unsent messages (call flush first)."""
        self._producer.close(timeout=0)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
