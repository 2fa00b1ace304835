"""Objects to send, as the Braze client and delivery tests build them."""

from __future__ import annotations

from typing import Any

from dbt_braze.braze import Batch, batches
from dbt_braze.payloads import ATTRIBUTES, EVENTS, BrazeObject


def attributes(user: str, seq: int = 0, **values: Any) -> BrazeObject:
    body = {"external_id": user, **(values or {"plan": "pro"})}
    return BrazeObject(ATTRIBUTES, body, ("external_id", "", user), user, 0, seq, len(body) - 1)


def event(user: str, seq: int = 0, time: str = "2024-05-01T10:00:00Z") -> BrazeObject:
    body = {"external_id": user, "name": "played", "time": time, "properties": {"n": seq}}
    return BrazeObject(EVENTS, body, ("external_id", "", user), user, 1, seq, 1)


def padded(user: str, seq: int, pad: int) -> BrazeObject:
    return attributes(user, seq, note="x" * pad)


def one_batch(objects: list[BrazeObject]) -> Batch:
    (batch,) = batches(objects)
    return batch


def sizes(result: list[Batch]) -> list[int]:
    return [len(b.objects) for b in result]


def batch_indexes_of(result: list[Batch], user: str) -> list[int]:
    return sorted({i for i, b in enumerate(result) for o in b.objects if o.key == user})


def no_sleep(seconds: float) -> None:
    pass
