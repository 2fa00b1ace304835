"""Delta rows -> Braze objects: value typing (DESIGN.md section 1) and local validation."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from dbt_braze.config import Identifier, ModelSync, ResolvedSync
from dbt_braze.payloads import (
    BrazeObject,
    InvalidValue,
    ObjectDelta,
    PayloadBuilder,
    Rejection,
    UserDelta,
    to_json_value,
)

UTC = dt.timezone.utc


# ----------------------------------------------------------------------------- to_json_value


def test_date_becomes_year_month_day() -> None:
    assert to_json_value(dt.date(2024, 3, 9)) == "2024-03-09"


def test_naive_datetime_is_read_as_utc_and_marked_z() -> None:
    assert to_json_value(dt.datetime(2024, 3, 9, 8, 30, 5)) == "2024-03-09T08:30:05Z"


def test_datetime_keeps_microseconds() -> None:
    value = dt.datetime(2026, 11, 25, 17, 5, 12, 250000)

    assert to_json_value(value) == "2026-11-25T17:05:12.250000Z"


def test_aware_datetime_is_converted_to_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    minus_five = dt.timezone(dt.timedelta(hours=-5))

    assert to_json_value(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus_two)) == (
        "2024-01-02T01:04:05Z"
    )
    # Crossing midnight moves the date too.
    assert to_json_value(dt.datetime(2024, 1, 1, 22, 0, tzinfo=minus_five)) == (
        "2024-01-02T03:00:00Z"
    )


def test_decimal_with_scale_becomes_float() -> None:
    value = to_json_value(Decimal("1250.50"))

    assert value == 1250.5 and type(value) is float


def test_decimal_with_scale_stays_float_when_whole() -> None:
    value = to_json_value(Decimal("9800.00"))

    assert value == 9800.0 and type(value) is float


def test_decimal_with_scale_zero_becomes_int() -> None:
    value = to_json_value(Decimal("42"))

    assert value == 42 and type(value) is int


@pytest.mark.parametrize("value", [1, -7, 0, True, False, "text", None, 2.5])
def test_plain_json_values_pass_through_unchanged(value: Any) -> None:
    result = to_json_value(value)

    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
    ids=str,
)
def test_non_finite_numbers_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidValue, match="finite"):
        to_json_value(value)


def test_text_of_exactly_255_characters_is_allowed() -> None:
    assert to_json_value("x" * 255) == "x" * 255


def test_text_over_255_characters_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="256 characters"):
        to_json_value("x" * 256)


def test_text_limit_counts_characters_not_bytes() -> None:
    emoji = "\N{PARTY POPPER}" * 255  # 1,020 bytes in UTF-8

    assert to_json_value(emoji) == emoji
    with pytest.raises(InvalidValue):
        to_json_value(emoji + "x")


def test_unicode_text_is_kept_as_is() -> None:
    text = "Zo\u00eb \u6771\u4eac \N{PARTY POPPER} \u0645\u0631\u062d\u0628\u0627"

    assert to_json_value(text) == text


def test_list_and_tuple_become_json_arrays_with_converted_items() -> None:
    assert to_json_value(["a", 1, Decimal("2.5")]) == ["a", 1, 2.5]
    assert to_json_value(("a", dt.date(2024, 1, 1))) == ["a", "2024-01-01"]


def test_array_of_500_items_is_allowed_and_501_rejected() -> None:
    assert len(to_json_value(list(range(500)))) == 500
    with pytest.raises(InvalidValue, match="501 items"):
        to_json_value(list(range(501)))


def test_text_over_255_characters_inside_an_array_is_rejected() -> None:
    with pytest.raises(InvalidValue):
        to_json_value(["ok", "y" * 256])


def test_non_finite_number_inside_an_array_is_rejected() -> None:
    with pytest.raises(InvalidValue):
        to_json_value([1.0, float("nan")])


def test_dict_becomes_nested_object_with_dates_as_time_objects() -> None:
    value = {
        "title": "The Hobbit",
        "published": dt.date(1937, 9, 21),
        "read_at": dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "stats": {"count": Decimal("3"), "last": dt.date(2024, 1, 1)},
        "tags": ["a", dt.date(2024, 2, 2)],
    }

    assert to_json_value(value) == {
        "title": "The Hobbit",
        "published": {"$time": "1937-09-21"},
        "read_at": {"$time": "2024-05-01T09:00:00Z"},
        "stats": {"count": 3, "last": {"$time": "2024-01-01"}},
        "tags": ["a", {"$time": "2024-02-02"}],
    }


def test_dates_in_a_top_level_array_stay_plain_text() -> None:
    assert to_json_value([dt.date(2024, 1, 1)]) == ["2024-01-01"]


@pytest.mark.parametrize("key", ["a.b", "$a", "price$", "deep.key"])
def test_nested_key_with_dot_or_dollar_is_rejected(key: str) -> None:
    with pytest.raises(InvalidValue, match=re.escape("`.` or `$`")):
        to_json_value({"ok": 1, "inner": {key: 1}})


def test_nested_key_over_255_characters_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="256 characters"):
        to_json_value({"k" * 256: 1})


def test_nested_text_value_over_255_characters_is_rejected() -> None:
    with pytest.raises(InvalidValue):
        to_json_value({"k": "v" * 256})


@pytest.mark.parametrize(
    "value",
    [b"bytes", bytearray(b"x"), memoryview(b"x"), {1, 2}, object()],
    ids=["bytes", "bytearray", "memoryview", "set", "object"],
)
def test_values_braze_cannot_store_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidValue, match="which Braze cannot store"):
        to_json_value(value)


def test_bytes_inside_a_nested_object_are_rejected() -> None:
    with pytest.raises(InvalidValue):
        to_json_value({"blob": b"\x00\x01"})


# ------------------------------------------------------------------------------- users


def users_builder(
    identifier: Identifier | None = None,
    mode: str = "upsert",
    mapped: tuple[tuple[str, str], ...] = (("email", "email"), ("plan", "plan")),
    json_columns: frozenset[str] = frozenset(),
) -> PayloadBuilder:
    identifier = identifier or Identifier("external_id", "user_id")
    sync = ModelSync(
        unique_id="model.shop.braze_users",
        name="braze_users",
        relation='"braze_users"',
        object="users",
        identifier=identifier,
        mode=mode,
        attributes=mapped,
    )
    families = tuple((c, "json") for _, c in mapped if c.lower() in json_columns)
    resolved = ResolvedSync(sync, identifier.column, mapped, column_families=families)
    return PayloadBuilder(3, resolved)


def user_row(
    key: str | None, kind: str, values: tuple[Any, ...], changed: tuple[bool, ...], seq: int = 7
) -> UserDelta:
    return UserDelta(seq, key, kind, values, changed)


def built(result: BrazeObject | Rejection) -> BrazeObject:
    assert isinstance(result, BrazeObject), result
    return result


def rejected(result: BrazeObject | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


def test_new_user_sends_identifier_and_every_changed_attribute() -> None:
    obj = built(users_builder().user_object(user_row("u1", "new", ("a@x.io", "pro"), (True, True))))

    assert obj.array == "attributes"
    assert obj.body == {"external_id": "u1", "email": "a@x.io", "plan": "pro"}
    assert (obj.model, obj.seq, obj.data_points) == (3, 7, 2)


def test_only_changed_attributes_are_included() -> None:
    obj = built(
        users_builder().user_object(
            user_row("u1", "changed", ("a@x.io", "enterprise"), (False, True))
        )
    )

    assert obj.body == {"external_id": "u1", "plan": "enterprise"}
    assert obj.data_points == 1


def test_new_user_null_attributes_are_omitted() -> None:
    obj = built(users_builder().user_object(user_row("u1", "new", ("a@x.io", None), (True, True))))

    assert obj.body == {"external_id": "u1", "email": "a@x.io"}
    assert obj.data_points == 1


def test_attribute_changed_to_null_is_sent_as_none() -> None:
    obj = built(
        users_builder().user_object(user_row("u1", "changed", ("a@x.io", None), (False, True)))
    )

    assert obj.body == {"external_id": "u1", "plan": None}
    assert json.loads(json.dumps(obj.body))["plan"] is None
    assert obj.data_points == 1


def test_deleted_user_sends_null_for_every_attribute_it_had_and_never_recreates() -> None:
    obj = built(
        users_builder().user_object(user_row("u1", "deleted", ("a@x.io", "pro"), (True, True)))
    )

    assert obj.body == {
        "external_id": "u1",
        "email": None,
        "plan": None,
        "_update_existing_only": True,
    }
    assert obj.data_points == 2


def test_deleted_user_with_nothing_delivered_needs_no_request() -> None:
    out = users_builder().user_object(user_row("u1", "deleted", (None, None), (False, False)))

    assert out is None


def test_attribute_values_are_converted_by_type() -> None:
    builder = users_builder(
        mapped=(("signup", "signup"), ("ltv", "ltv"), ("seen", "seen"), ("tags", "tags"))
    )
    row = user_row(
        "u1",
        "new",
        (dt.date(2024, 1, 15), Decimal("12.50"), dt.datetime(2026, 1, 1, 8), ("a", "b")),
        (True, True, True, True),
    )

    assert built(builder.user_object(row)).body == {
        "external_id": "u1",
        "signup": "2024-01-15",
        "ltv": 12.5,
        "seen": "2026-01-01T08:00:00Z",
        "tags": ["a", "b"],
    }


def test_user_object_belongs_to_one_user_string_per_identifier() -> None:
    first = built(users_builder().user_object(user_row("u1", "new", ("a", "b"), (True, True))))
    again = built(users_builder().user_object(user_row("u1", "changed", ("a", "c"), (False, True))))
    other = built(users_builder().user_object(user_row("u2", "new", ("a", "b"), (True, True))))

    assert first.user == again.user
    assert first.user != other.user
    assert first.user.endswith(":u1")


@pytest.mark.parametrize(
    ("kind", "key"),
    [("external_id", "id-1"), ("braze_id", "id-1"), ("email", "b@y.io"), ("phone", "+14155550100")],
)
def test_single_column_identifier_kinds_identify_the_object(kind: str, key: str) -> None:
    builder = users_builder(identifier=Identifier(kind, "the_id"))

    obj = built(builder.user_object(user_row(key, "new", ("a@x.io", "pro"), (True, True))))

    assert obj.body == {kind: key, "email": "a@x.io", "plan": "pro"}
    assert "_update_existing_only" not in obj.body


def test_user_alias_in_upsert_mode_asks_braze_to_create_the_profile() -> None:
    builder = users_builder(identifier=Identifier("user_alias", "anon_id", "web_anon"))

    obj = built(builder.user_object(user_row("anon-1", "new", ("a@x.io", "pro"), (True, True))))

    assert obj.body == {
        "user_alias": {"alias_name": "anon-1", "alias_label": "web_anon"},
        "email": "a@x.io",
        "plan": "pro",
        "_update_existing_only": False,
    }


@pytest.mark.parametrize(
    "identifier",
    [Identifier("external_id", "user_id"), Identifier("user_alias", "anon_id", "web_anon")],
    ids=["external_id", "user_alias"],
)
def test_update_only_mode_marks_objects_update_existing_only(identifier: Identifier) -> None:
    builder = users_builder(identifier=identifier, mode="update_only")

    obj = built(builder.user_object(user_row("k1", "new", ("a@x.io", "pro"), (True, True))))

    assert obj.body["_update_existing_only"] is True


def test_user_alias_label_distinguishes_users() -> None:
    web = users_builder(identifier=Identifier("user_alias", "anon_id", "web"))
    app = users_builder(identifier=Identifier("user_alias", "anon_id", "app"))
    row = user_row("same", "new", ("a", "b"), (True, True))

    assert built(web.user_object(row)).user != built(app.user_object(row)).user


@pytest.mark.parametrize("key", [None, ""], ids=["null", "empty"])
def test_null_identifier_is_rejected_with_a_reason(key: str | None) -> None:
    rejection = rejected(
        users_builder().user_object(user_row(key, "new", ("a@x.io", "pro"), (True, True), seq=11))
    )

    assert rejection.reason == "external_id is null"
    assert (rejection.model, rejection.seq, rejection.payload) == (3, 11, None)


def test_null_email_identifier_names_its_kind() -> None:
    builder = users_builder(identifier=Identifier("email", "email_address"))

    rejection = rejected(builder.user_object(user_row(None, "new", ("a", "b"), (True, True))))

    assert rejection.reason == "email is null"


def test_external_id_over_987_bytes_is_rejected() -> None:
    key = "\u00e9" * 494  # 494 characters, 988 bytes

    rejection = rejected(
        users_builder().user_object(user_row(key, "new", ("a", "b"), (True, True)))
    )

    assert rejection.identifier == key
    assert "988 bytes" in rejection.reason and "987" in rejection.reason


def test_external_id_of_exactly_987_bytes_is_sent() -> None:
    key = "\u00e9" * 493 + "x"  # 987 bytes

    obj = built(users_builder().user_object(user_row(key, "new", ("a", "b"), (True, True))))

    assert obj.body["external_id"] == key


def test_user_alias_name_over_255_characters_is_rejected() -> None:
    builder = users_builder(identifier=Identifier("user_alias", "anon_id", "web"))

    rejection = rejected(builder.user_object(user_row("a" * 256, "new", ("a", "b"), (True, True))))

    assert "alias_name of 256 characters" in rejection.reason


def test_invalid_attribute_value_rejects_the_row_naming_the_attribute() -> None:
    rejection = rejected(
        users_builder().user_object(user_row("u1", "new", ("a@x.io", "p" * 256), (True, True)))
    )

    assert rejection.identifier == "u1"
    assert rejection.reason.startswith("attribute `plan`: ")
    assert "256 characters" in rejection.reason


def test_unchanged_invalid_attribute_does_not_reject_the_row() -> None:
    obj = built(
        users_builder().user_object(
            user_row("u1", "changed", ("a@x.io", float("nan")), (True, False))
        )
    )

    assert obj.body == {"external_id": "u1", "email": "a@x.io"}


def test_data_points_count_each_key_of_a_nested_attribute() -> None:
    builder = users_builder(mapped=(("plan", "plan"), ("most_played_song", "song")))
    song = {
        "song_name": "Solea",
        "artist_name": "Miles Davis",
        "album_name": "Sketches of Spain",
        "year_released": 1960,
        "genre": "Jazz",
        "play_analytics": {"count": 1000, "top_10_listeners": True},
    }

    obj = built(builder.user_object(user_row("u1", "new", ("pro", song), (True, True))))

    # Braze's own example of this object counts 7 data points; plus 1 for `plan`.
    assert obj.data_points == 8


def test_data_points_count_a_nested_date_as_one_key() -> None:
    builder = users_builder(mapped=(("dates", "dates"),))
    dates = {"birthday": dt.date(1980, 1, 1), "anniversary": dt.date(2020, 5, 28)}

    obj = built(builder.user_object(user_row("u1", "new", (dates,), (True,))))

    assert obj.body["dates"] == {
        "birthday": {"$time": "1980-01-01"},
        "anniversary": {"$time": "2020-05-28"},
    }
    assert obj.data_points == 2


def test_nested_attribute_over_100_kb_is_rejected() -> None:
    builder = users_builder(mapped=(("blob", "blob"),))
    big = {f"k{i}": "v" * 250 for i in range(450)}  # about 115 KB of JSON

    rejection = rejected(builder.user_object(user_row("u1", "new", (big,), (True,))))

    assert "attribute `blob`: nested object over 100 KB" in rejection.reason


def test_json_text_column_becomes_a_nested_object() -> None:
    builder = users_builder(mapped=(("prefs", "PREFS"),), json_columns=frozenset({"prefs"}))

    obj = built(builder.user_object(user_row("u1", "new", ('{"theme": "dark"}',), (True,))))

    assert obj.body["prefs"] == {"theme": "dark"}


def test_invalid_json_text_rejects_the_row() -> None:
    builder = users_builder(mapped=(("prefs", "prefs"),), json_columns=frozenset({"prefs"}))

    rejection = rejected(builder.user_object(user_row("u1", "new", ("{not json",), (True,))))

    assert rejection.reason.startswith("attribute `prefs`: invalid JSON")


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
) -> PayloadBuilder:
    sync = ModelSync(
        unique_id=f"model.shop.braze_{kind}",
        name=f"braze_{kind}",
        relation=f'"braze_{kind}"',
        object=kind,  # type: ignore[arg-type]
        identifier=Identifier("external_id", "user_id"),
        mode=mode,
        fields=fields,
        properties=properties,
    )
    return PayloadBuilder(1, ResolvedSync(sync, "user_id", properties, fields))


def events_builder(
    properties: tuple[tuple[str, str], ...] = (("plan", "plan"), ("amount", "amount")),
    mode: str = "upsert",
) -> PayloadBuilder:
    return object_builder("events", properties, EVENT_FIELDS, mode)


def purchases_builder(
    properties: tuple[tuple[str, str], ...] = (("coupon", "coupon"),),
) -> PayloadBuilder:
    return object_builder("purchases", properties, PURCHASE_FIELDS)


def object_row(
    builder: PayloadBuilder,
    columns: dict[str, Any],
    key: str | None = "u1",
    object_id: str | None = "id-1",
    seq: int = 5,
) -> ObjectDelta:
    """A delta row carrying, of `columns`, those the builder asks for, in its order."""
    return ObjectDelta(seq, key, object_id, tuple(columns[c] for c in builder.carried))


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

    obj = built(builder.event_object(object_row(builder, event_columns())))

    assert obj.array == "events"
    assert obj.body == {
        "external_id": "u1",
        "name": "plan_upgraded",
        "time": "2026-11-01T09:00:00Z",
        "properties": {"plan": "pro", "amount": 49.0},
    }
    assert (obj.model, obj.seq, obj.data_points) == (1, 5, 1)
    assert obj.user == users_builder().user("u1")


def test_event_time_from_a_date_is_midnight_utc() -> None:
    builder = events_builder()

    obj = built(
        builder.event_object(object_row(builder, event_columns(occurred_at=dt.date(2026, 11, 1))))
    )

    assert obj.body["time"] == "2026-11-01T00:00:00Z"


def test_event_time_from_an_aware_timestamp_is_utc() -> None:
    builder = events_builder()
    tokyo = dt.timezone(dt.timedelta(hours=9))
    row = object_row(
        builder, event_columns(occurred_at=dt.datetime(2026, 11, 1, 9, 0, tzinfo=tokyo))
    )

    assert built(builder.event_object(row)).body["time"] == "2026-11-01T00:00:00Z"


def test_event_null_properties_are_omitted() -> None:
    builder = events_builder()

    obj = built(builder.event_object(object_row(builder, event_columns(amount=None))))

    assert obj.body["properties"] == {"plan": "pro"}


def test_event_with_only_null_properties_has_no_properties_key() -> None:
    builder = events_builder()

    obj = built(builder.event_object(object_row(builder, event_columns(amount=None, plan=None))))

    assert "properties" not in obj.body


def test_event_in_update_only_mode_is_marked_update_existing_only() -> None:
    builder = events_builder(mode="update_only")

    obj = built(builder.event_object(object_row(builder, event_columns())))

    assert obj.body["_update_existing_only"] is True


@pytest.mark.parametrize("name", ["time", "event_name", "$plan"])
def test_event_reserved_property_names_are_rejected(name: str) -> None:
    builder = events_builder(properties=((name, "plan"),))

    rejection = rejected(builder.event_object(object_row(builder, event_columns())))

    assert rejection.reason == f"property name `{name}` is reserved by Braze"


@pytest.mark.parametrize("name", [None, "", 5])
def test_event_without_a_text_name_is_rejected(name: Any) -> None:
    builder = events_builder()

    rejection = rejected(builder.event_object(object_row(builder, event_columns(event_name=name))))

    assert "event name" in rejection.reason


def test_event_without_time_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.event_object(object_row(builder, event_columns(occurred_at=None))))

    assert "is not a timestamp" in rejection.reason


def test_event_with_null_identifier_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.event_object(object_row(builder, event_columns(), key=None)))

    assert rejection.reason == "external_id is null"


def test_event_with_null_event_id_is_rejected() -> None:
    builder = events_builder()

    rejection = rejected(builder.event_object(object_row(builder, event_columns(), object_id=None)))

    assert rejection.reason == "event_id is null"


def test_event_property_over_255_characters_is_rejected_naming_the_property() -> None:
    builder = events_builder()

    rejection = rejected(builder.event_object(object_row(builder, event_columns(plan="p" * 256))))

    assert rejection.reason.startswith("property `plan`: ")


def test_purchase_has_product_upper_case_currency_price_quantity_and_time() -> None:
    builder = purchases_builder()

    obj = built(builder.event_object(object_row(builder, purchase_columns())))

    assert obj.array == "purchases"
    assert obj.body == {
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

    obj = built(builder.event_object(object_row(builder, purchase_columns(quantity=quantity))))

    assert obj.body["quantity"] == int(quantity)
    assert obj.data_points == int(quantity)


def test_purchase_without_quantity_counts_one_data_point() -> None:
    builder = purchases_builder()

    obj = built(builder.event_object(object_row(builder, purchase_columns(quantity=None))))

    assert "quantity" not in obj.body
    assert obj.data_points == 1


@pytest.mark.parametrize("quantity", [0, 101, -1, Decimal("1.5"), True])
def test_purchase_quantity_outside_1_to_100_is_rejected(quantity: Any) -> None:
    builder = purchases_builder()

    rejection = rejected(
        builder.event_object(object_row(builder, purchase_columns(quantity=quantity)))
    )

    assert "is outside 1..100" in rejection.reason


@pytest.mark.parametrize("currency", ["US", "USDX", "U$D", "123", None, 840])
def test_purchase_with_a_bad_currency_is_rejected(currency: Any) -> None:
    builder = purchases_builder()

    rejection = rejected(
        builder.event_object(object_row(builder, purchase_columns(currency=currency)))
    )

    assert "is not an ISO 4217 code" in rejection.reason


@pytest.mark.parametrize("currency", ["\u00dfeu", "\u00e9ur"], ids=["sharp-s", "e-acute"])
def test_purchase_currency_with_non_ascii_letters_is_rejected(currency: str) -> None:
    builder = purchases_builder()

    result = builder.event_object(object_row(builder, purchase_columns(currency=currency)))

    assert isinstance(result, Rejection), result.body


@pytest.mark.parametrize("price", [None, "9.99", True, float("nan")])
def test_purchase_with_a_bad_price_is_rejected(price: Any) -> None:
    builder = purchases_builder()

    rejected(builder.event_object(object_row(builder, purchase_columns(unit_price=price))))


def test_purchase_with_null_product_id_is_rejected() -> None:
    builder = purchases_builder()

    rejection = rejected(builder.event_object(object_row(builder, purchase_columns(sku=None))))

    assert rejection.reason == "product_id is null"


@pytest.mark.parametrize("name", ["product_id", "price", "currency", "quantity", "time"])
def test_purchase_reserved_property_names_are_rejected(name: str) -> None:
    builder = purchases_builder(properties=((name, "coupon"),))

    rejection = rejected(builder.event_object(object_row(builder, purchase_columns())))

    assert rejection.reason == f"property name `{name}` is reserved by Braze"


def test_purchase_with_null_purchase_id_is_rejected() -> None:
    builder = purchases_builder()

    rejection = rejected(
        builder.event_object(object_row(builder, purchase_columns(), object_id=None))
    )

    assert rejection.reason == "purchase_id is null"
