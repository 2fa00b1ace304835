"""kinds/events.py, kinds/purchases.py, kinds/tracked.py: an events or purchases delta row ->
a Braze event or purchase, or a rejection."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from dbt_braze.kinds import KINDS, Builder
from dbt_braze.payloads import BrazeObject, IdDelta, Rejection
from dbt_braze.spec import Identifier, ModelSync, ResolvedSync


def built(result: BrazeObject | Rejection | None) -> BrazeObject:
    assert isinstance(result, BrazeObject), result
    return result


def rejected(result: BrazeObject | Rejection | None) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


# ------------------------------------------------------------------------ events, purchases

EVENT_FIELDS = (("event_id", "event_id"), ("name", "event_name"), ("time", "occurred_at"))
PURCHASE_FIELDS = (
    ("purchase_id", "order_line_id"),
    ("product_id", "sku"),
    ("currency", "currency"),
    ("price", "unit_price"),
    ("quantity", "quantity"),
    ("time", "purchased_at"),
)


def object_builder(
    kind: str,
    properties: tuple[tuple[str, str], ...],
    fields: tuple[tuple[str, str], ...],
    mode: str = "upsert",
) -> Builder:
    sync = ModelSync(
        unique_id=f"model.shop.braze_{kind}",
        name=f"braze_{kind}",
        relation=f'"braze_{kind}"',
        object=kind,  # type: ignore[arg-type]
        identifier=Identifier("external_id", "user_id"),
        mode=mode,
        fields=fields,
        properties=properties,
        id_field=fields[0][0],
    )
    return KINDS[kind].builder(1, ResolvedSync(sync, "user_id", properties, fields))


def events_builder(
    properties: tuple[tuple[str, str], ...] = (("plan", "plan"), ("amount", "amount")),
    mode: str = "upsert",
) -> Builder:
    return object_builder("events", properties, EVENT_FIELDS, mode)


def purchases_builder(
    properties: tuple[tuple[str, str], ...] = (("coupon", "coupon"),),
) -> Builder:
    return object_builder("purchases", properties, PURCHASE_FIELDS)


def object_row(
    builder: Builder,
    columns: dict[str, Any],
    key: str | None = "u1",
    object_id: str | None = "id-1",
    seq: int = 5,
) -> IdDelta:
    """A delta row carrying, of `columns`, those the builder asks for, in its order."""
    return IdDelta(seq, key, object_id, tuple(columns[c] for c in builder.carried))


def event_columns(**overrides: Any) -> dict[str, Any]:
    columns = {
        "event_name": "plan_upgraded",
        "occurred_at": dt.datetime(2026, 11, 1, 9, 0),
        "plan": "pro",
        "amount": Decimal("49.00"),
    }
    columns.update(overrides)
    return columns


def purchase_columns(**overrides: Any) -> dict[str, Any]:
    columns = {
        "sku": "sku-1",
        "currency": "usd",
        "unit_price": Decimal("9.99"),
        "quantity": 2,
        "purchased_at": dt.datetime(2026, 11, 2, 12, 0),
        "coupon": "WELCOME",
    }
    columns.update(overrides)
    return columns


def test_event_has_name_time_and_properties() -> None:
    builder = events_builder()

    obj = built(builder.build(object_row(builder, event_columns())))

    assert obj.array == "events"
    assert obj.fields() == {
        "external_id": "u1",
        "name": "plan_upgraded",
        "time": "2026-11-01T09:00:00Z",
        "properties": {"plan": "pro", "amount": 49.0},
    }
    assert (obj.model, obj.seq, obj.data_points) == (1, 5, 1)
    assert obj.user == ("external_id", "", "u1") and obj.key == "u1"


def test_event_time_from_a_date_is_midnight_utc() -> None:
    builder = events_builder()

    obj = built(builder.build(object_row(builder, event_columns(occurred_at=dt.date(2026, 11, 1)))))

    assert obj.fields()["time"] == "2026-11-01T00:00:00Z"


def test_event_time_from_an_aware_timestamp_is_utc() -> None:
    builder = events_builder()
    tokyo = dt.timezone(dt.timedelta(hours=9))
    row = object_row(
        builder, event_columns(occurred_at=dt.datetime(2026, 11, 1, 9, 0, tzinfo=tokyo))
    )

    assert built(builder.build(row)).fields()["time"] == "2026-11-01T00:00:00Z"


def test_event_null_properties_are_omitted() -> None:
    builder = events_builder()

    obj = built(builder.build(object_row(builder, event_columns(amount=None))))

    assert obj.fields()["properties"] == {"plan": "pro"}


def test_event_with_only_null_properties_has_no_properties_key() -> None:
    builder = events_builder()

    obj = built(builder.build(object_row(builder, event_columns(amount=None, plan=None))))

    assert "properties" not in obj.fields()


def test_event_in_update_only_mode_is_marked_update_existing_only() -> None:
    builder = events_builder(mode="update_only")

    obj = built(builder.build(object_row(builder, event_columns())))

    assert obj.fields()["_update_existing_only"] is True


@pytest.mark.parametrize("name", ["time", "event_name", "$plan"])
def test_event_reserved_property_names_are_rejected(name: str) -> None:
    builder = events_builder(properties=((name, "plan"),))

    rejection = rejected(builder.build(object_row(builder, event_columns())))

    assert rejection.reason == f"property name `{name}` is reserved by Braze"


@pytest.mark.parametrize("name", [None, "", 5])
def test_event_without_a_text_name_is_rejected(name: Any) -> None:
    builder = events_builder()

    rejection = rejected(builder.build(object_row(builder, event_columns(event_name=name))))

    assert "event name" in rejection.reason


def test_event_without_time_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.build(object_row(builder, event_columns(occurred_at=None))))

    assert "is not a timestamp" in rejection.reason


def test_event_with_null_identifier_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.build(object_row(builder, event_columns(), key=None)))

    assert rejection.reason == "external_id is null"


def test_event_with_null_event_id_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.build(object_row(builder, event_columns(), object_id=None)))

    assert rejection.reason == "event_id is null"


def test_event_property_over_255_characters_is_rejected_naming_the_property() -> None:
    builder = events_builder()

    rejection = rejected(builder.build(object_row(builder, event_columns(plan="p" * 256))))

    assert rejection.reason.startswith("property `plan`: ")


def test_purchase_has_product_upper_case_currency_price_quantity_and_time() -> None:
    builder = purchases_builder()

    obj = built(builder.build(object_row(builder, purchase_columns())))

    assert obj.array == "purchases"
    assert obj.fields() == {
        "external_id": "u1",
        "product_id": "sku-1",
        "currency": "USD",
        "price": 9.99,
        "quantity": 2,
        "time": "2026-11-02T12:00:00Z",
        "properties": {"coupon": "WELCOME"},
    }


@pytest.mark.parametrize("quantity", [1, 2, 100, Decimal("3"), Decimal("3.0")], ids=str)
def test_purchase_data_points_equal_its_quantity(quantity: Any) -> None:
    builder = purchases_builder()

    obj = built(builder.build(object_row(builder, purchase_columns(quantity=quantity))))

    assert obj.fields()["quantity"] == int(quantity)
    assert obj.data_points == int(quantity)


def test_purchase_without_quantity_counts_one_data_point() -> None:
    builder = purchases_builder()

    obj = built(builder.build(object_row(builder, purchase_columns(quantity=None))))

    assert "quantity" not in obj.fields()
    assert obj.data_points == 1


@pytest.mark.parametrize("quantity", [0, 101, -1, Decimal("1.5"), True])
def test_purchase_quantity_outside_1_to_100_is_rejected(quantity: Any) -> None:
    builder = purchases_builder()

    rejection = rejected(builder.build(object_row(builder, purchase_columns(quantity=quantity))))

    assert "is outside 1..100" in rejection.reason


@pytest.mark.parametrize("currency", ["US", "USDX", "U$D", "123", None, 840])
def test_purchase_with_a_bad_currency_is_rejected(currency: Any) -> None:
    builder = purchases_builder()

    rejection = rejected(builder.build(object_row(builder, purchase_columns(currency=currency))))

    assert "is not an ISO 4217 code" in rejection.reason


@pytest.mark.parametrize("currency", ["\u00dfeu", "\u00e9ur"], ids=["sharp-s", "e-acute"])
def test_purchase_currency_with_non_ascii_letters_is_rejected(currency: str) -> None:
    builder = purchases_builder()

    result = builder.build(object_row(builder, purchase_columns(currency=currency)))

    assert isinstance(result, Rejection), result.fields()


@pytest.mark.parametrize("price", [None, "9.99", True, float("nan")])
def test_purchase_with_a_bad_price_is_rejected(price: Any) -> None:
    builder = purchases_builder()

    rejected(builder.build(object_row(builder, purchase_columns(unit_price=price))))


def test_purchase_with_null_product_id_is_rejected() -> None:
    builder = purchases_builder()

    rejection = rejected(builder.build(object_row(builder, purchase_columns(sku=None))))

    assert rejection.reason == "product_id is null"


@pytest.mark.parametrize("name", ["product_id", "price", "currency", "quantity", "time"])
def test_purchase_reserved_property_names_are_rejected(name: str) -> None:
    builder = purchases_builder(properties=((name, "coupon"),))

    rejection = rejected(builder.build(object_row(builder, purchase_columns())))

    assert rejection.reason == f"property name `{name}` is reserved by Braze"


def test_purchase_with_null_purchase_id_is_rejected() -> None:
    builder = purchases_builder()

    rejection = rejected(builder.build(object_row(builder, purchase_columns(), object_id=None)))

    assert rejection.reason == "purchase_id is null"


@pytest.mark.parametrize("rendered", [False, True], ids=["python", "warehouse"])
@pytest.mark.parametrize(
    ("kind", "columns", "limit"),
    [("events", event_columns, 100 * 1024), ("purchases", purchase_columns, 50 * 1024)],
)
def test_properties_over_brazes_size_limit_reject_the_row_and_up_to_it_are_sent(
    kind: str, columns: Any, limit: int, rendered: bool
) -> None:
    # Properties of 250 characters each (Braze's limit per text is 255), the last one's length
    # chosen so that their JSON is exactly `limit` bytes.
    names = [f"p{i:03d}" for i in range(limit // 260 + 1)]
    values = {name: "x" * 250 for name in names}
    size = len(json.dumps(values, separators=(",", ":")))
    values[names[-1]] = "x" * (250 - (size - limit))
    assert len(json.dumps(values, separators=(",", ":"))) == limit
    fields = EVENT_FIELDS if kind == "events" else PURCHASE_FIELDS
    builder = object_builder(kind, tuple((n, n) for n in names), fields)
    longer = values | {names[0]: "x" * 251}

    # As the warehouse renders an object whole: its text after the identifier, its columns null.
    python = built(builder.build(object_row(builder, columns(**values))))
    assert isinstance(python.body, bytes)
    head = builder.identity.json_head(python.key)
    before_properties = python.body[len(head) : python.body.index(b',"properties":{')].decode()

    def row(properties: dict[str, str]) -> IdDelta:
        delta = object_row(builder, columns(**properties))
        if not rendered:
            return delta
        members = json.dumps(properties, separators=(",", ":"))[1:-1]
        return delta._replace(
            values=(None,) * len(delta.values),
            json=before_properties + ',"properties":{' + members + "}",
            points=python.data_points,
        )

    sent = built(builder.build(row(values)))
    refused = rejected(builder.build(row(longer)))

    assert sent.fields()["properties"] == values
    assert refused.reason == f"properties over {limit // 1024} KB"
    assert refused.payload is not None and "properties" not in refused.payload
