"""values.py: a warehouse value -> the JSON value Braze stores, or the reason it cannot."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

from dbt_braze.values import (
    ARRAY,
    INTEGER,
    TIME,
    UNSUPPORTED,
    InvalidValue,
    converter,
    time_converter,
    to_json_value,
    type_family,
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


# ----------------------------------------------------------------------------- type families


@pytest.mark.parametrize(
    ("data_type", "family"),
    [
        # DuckDB, as DESCRIBE names them
        ("VARCHAR[2]", "array"),
        ("INTEGER[3]", "array"),
        ("VARCHAR[2][]", "array"),
        ("INTEGER[][2]", "array"),
        ("STRUCT(a VARCHAR)[2]", "array"),
        ("MAP(VARCHAR, INTEGER)", "struct"),
        ("MAP(VARCHAR, INTEGER[])", "struct"),
        ("MAP(INTEGER[], VARCHAR)", "unsupported"),
        ("MAP(VARCHAR[2], INTEGER)", "unsupported"),
        ("STRUCT(m MAP(STRUCT(a INTEGER), VARCHAR))", "unsupported"),
        ("STRUCT(a INTEGER, b VARCHAR)", "struct"),
        ("UNION(num INTEGER, str VARCHAR)", "union"),
        ("ENUM('sad', 'ok', 'happy')", "other"),
        ("BLOB", "other"),
        ("INTERVAL", "other"),
        ("UUID", "other"),
        ("BIT", "other"),
        ("TIME", "time"),
        ("TIME WITH TIME ZONE", "time"),
        ("TIME_NS", "time"),
        ("HUGEINT", "integer"),
        ("UHUGEINT", "integer"),
        ("BIGNUM", "integer"),
        ("VARINT", "integer"),
        # PostgreSQL, as information_schema.columns names them (dbt-postgres reads those)
        ("ARRAY", "array"),
        ("USER-DEFINED", "other"),
        ("uuid", "other"),
        ("time without time zone", "time"),
        ("time with time zone", "time"),
        ("interval", "other"),
        ("bytea", "other"),
        ("money", "money"),
        ("inet", "other"),
        ("jsonb", "json"),
        ("json", "json"),
        ("numeric(38,0)", "integer"),
    ],
)
def test_each_type_name_has_the_family_its_values_are_read_by(data_type: str, family: str) -> None:
    assert type_family(data_type) == family


def test_a_fixed_size_arrays_items_are_judged_as_a_lists_are() -> None:
    convert = converter(type_family("VARCHAR[2]"))

    assert convert(("a", "b")) == ["a", "b"]
    with pytest.raises(InvalidValue, match="300 characters"):
        convert(("a", "x" * 300))
    with pytest.raises(InvalidValue, match="null inside an array"):
        convert(("a", None))


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("{ok,sad}", ["ok", "sad"]),
        ('{a,"b c","x\\"y",""}', ["a", "b c", 'x"y', ""]),
        ('{"NULL"}', ["NULL"]),
        ("[0:1]={a,b}", ["a", "b"]),
        ("{}", []),
    ],
)
def test_a_postgresql_array_psycopg2_hands_over_as_text_is_read_item_by_item(
    text: str, items: list[str]
) -> None:
    # enum[], uuid[], citext[]: psycopg2 decodes only the array types it knows
    assert converter(ARRAY)(text) == items


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{a,NULL}", "null inside an array"),
        ("{{a},{b}}", "an array inside an array"),
        ("{a", "cannot be read"),
        ("(1,2)", "cannot be read"),
    ],
)
def test_a_postgresql_array_text_braze_cannot_take_is_rejected(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=re.escape(reason)):
        converter(ARRAY)(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.time(12, 34, 56), "12:34:56"),
        (dt.time(12, 34, 56, 500000), "12:34:56.5"),
        (dt.time(0, 0, 0, 1), "00:00:00.000001"),
        (dt.time(12, 34, 56, tzinfo=dt.timezone(dt.timedelta(hours=2))), "12:34:56+02"),
        (dt.time(1, 2, 3, tzinfo=dt.timezone(-dt.timedelta(minutes=30))), "01:02:03-00:30"),
        (dt.time(1, 2, 3, tzinfo=dt.timezone(dt.timedelta(seconds=3661))), "01:02:03+01:01:01"),
        (dt.time(1, 2, 3, tzinfo=UTC), "01:02:03+00"),
    ],
)
def test_a_time_of_day_is_written_as_duckdb_and_postgresql_write_it(
    value: dt.time, text: str
) -> None:
    assert to_json_value(value) == text
    assert converter(TIME)(value) == text
    assert to_json_value({"t": value}) == {"t": text}


def test_a_time_of_day_is_not_an_event_time() -> None:
    with pytest.raises(InvalidValue, match="time of day"):
        time_converter(TIME)("12:34:56")


def test_an_integer_read_as_its_digits_is_sent_as_an_integer() -> None:
    # DuckDB's BIGNUM arrives as text
    assert converter(INTEGER)("-123456789012345678901234567890") == -123456789012345678901234567890
    assert converter(INTEGER)(7) == 7


@pytest.mark.parametrize("value", ["9" * 4301, Decimal("9" * 4301), Decimal("1E+4400")])
def test_an_integer_of_more_digits_than_python_writes_is_rejected(value: Any) -> None:
    with pytest.raises(InvalidValue, match="digits"):
        converter(INTEGER)(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00", "binary data"),
        (memoryview(b"\x00"), "binary data"),
        (dt.timedelta(days=1), "an interval"),
    ],
    ids=["bytes", "memoryview", "interval"],
)
def test_binary_data_and_intervals_are_rejected_saying_what_to_do(value: Any, reason: str) -> None:
    with pytest.raises(InvalidValue, match=f"{reason}, which Braze cannot store: .* in the model"):
        to_json_value(value)


def test_map_keys_become_text_as_the_warehouses_json_has_them() -> None:
    assert to_json_value({True: 1, 2: 2, dt.date(2024, 1, 1): 3}) == {
        "true": 1,
        "2": 2,
        "2024-01-01": 3,
    }
    with pytest.raises(InvalidValue, match="nested key of type bytes"):
        to_json_value({b"k": 1})


def test_a_map_keyed_by_lists_is_rejected_whatever_its_value() -> None:
    # DuckDB hands MAP(INTEGER[], VARCHAR) over as {"key": [...], "value": [...]}
    convert = converter(UNSUPPORTED)

    assert convert(None) is None
    with pytest.raises(InvalidValue, match="a map keyed by lists"):
        convert({"key": [[1]], "value": ["x"]})
