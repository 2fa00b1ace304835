"""Warehouse values -> the JSON values Braze stores, or a reason it cannot take them.

Pure functions, no I/O. A column's *type family* (from the type name the adapter reports)
decides both how the warehouse renders it (dates and timestamps arrive as ISO 8601 text in UTC,
times of day as text, made by the `sendable` macro, so no session setting or driver conversion
can alter them) and which converter runs per value. A value Braze would refuse or silently
alter is rejected with a reason, never truncated. Limits cite Braze's `/users/track`
documentation (BRAZE_API.md).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

MAX_STRING = 255  # characters, attribute and property string values
MAX_ARRAY_ITEMS = 500  # attribute arrays (Braze's default limit)
MAX_NESTED_BYTES = 100 * 1024  # a nested custom attribute, and an event's properties
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024
MAX_EXTERNAL_ID_BYTES = 987
# Integers of any size are sent as they are, up to the digits Python converts to and from
# text (sys.int_max_str_digits' default); a longer one (PostgreSQL's numeric, DuckDB's BIGNUM)
# is rejected.
MAX_INTEGER_DIGITS = 4300

# Type families: what dbt-braze needs to know of a column's type, on any warehouse.
TEXT, INTEGER, DECIMAL, NUMERIC, FLOAT, BOOLEAN = (
    "text",
    "integer",
    "decimal",
    "numeric",
    "float",
    "boolean",
)
DATE, TIMESTAMP, TIMESTAMPTZ, TIME = "date", "timestamp", "timestamptz", "time"
JSON, ARRAY, STRUCT, UNION, OTHER = "json", "array", "struct", "union", "other"
MONEY = "money"  # PostgreSQL's money: a number in the database's currency
# A type no value of which Braze can hold, whatever the value (a map keyed by lists, structs
# or maps: DuckDB hands those over as {"key": [...], "value": [...]}, which would read as an
# object of two arrays).
UNSUPPORTED = "unsupported"
TEMPORAL_FAMILIES = frozenset({DATE, TIMESTAMP, TIMESTAMPTZ})

_INTEGER_NAMES = frozenset(
    [
        "integer",
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "hugeint",
        "int2",
        "int4",
        "int8",
        "int16",
        "int32",
        "int64",
        "int128",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
        "uhugeint",
        "bignum",  # DuckDB's arbitrary-precision integer, read as its text
        "varint",  # its name before DuckDB 1.4
        "long",
        "short",
        "byte",
        "serial",
        "bigserial",
    ]
)
_FLOAT_NAMES = frozenset(["float", "double", "real", "float4", "float8", "binary_double"])
_TEXT_NAMES = (
    "varchar",
    "character varying",
    "text",
    "string",
    "char",
    "character",
    "nvarchar",
    "nchar",
    "bpchar",
    "citext",
    "name",
)
_TIME_NAMES = frozenset(
    ["time", "timetz", "time_ns", "time with time zone", "time without time zone"]
)
# `VARCHAR[]`, and DuckDB's fixed-size arrays: `VARCHAR[2]`, `INTEGER[][3]`.
_ARRAY_SUFFIX = re.compile(r"\[\d*\]$")
# A map whose keys are lists, structs, maps or unions (`MAP(INTEGER[], VARCHAR)`), anywhere in
# the type.
_NESTED_KEY_MAP = re.compile(r"\bmap\((?:struct|map|union|list)\b|\bmap\([^,()]*\[")
_DECIMAL = re.compile(r"(?:decimal|numeric|number)\s*(?:\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\))?$")
# Adapters whose semi-structured types (ARRAY, OBJECT, VARIANT) reach Python as JSON text.
_JSON_TEXT_ARRAYS = frozenset({"snowflake"})
# Adapters whose structs, maps and arrays of anything but plain scalars are read as JSON text
# (the `sendable` macro's to_json): Spark's rows hand a struct over as a tuple, and a
# timestamp in an array in the Python process's own time zone.
_JSON_TEXT_NESTED = frozenset({"spark"})
_SPARK_NESTED_ELEMENTS = ("struct", "map", "array", "timestamp", "date", "binary")


def _nested_spark_type(name: str, base: str) -> bool:
    """`struct<...>`, `map<...>`, or an array of those, of arrays, or of dates and times."""
    if base in ("struct", "map"):
        return True
    return base == "array" and name[len("array<") :].startswith(_SPARK_NESTED_ELEMENTS)


def type_family(data_type: str, adapter_type: str = "") -> str:
    """The family of a type name as the adapter reports it: `DECIMAL(12,2)`, `timestamp with
    time zone`, `TIMESTAMP_LTZ`, `VARCHAR[]`, `array<string>`, `STRUCT(a INTEGER)`, ..."""
    name = " ".join(data_type.strip().lower().split())
    if not name:
        return OTHER
    if _NESTED_KEY_MAP.search(name):
        return UNSUPPORTED
    if _ARRAY_SUFFIX.search(name):
        return ARRAY
    base = name.split("(", 1)[0].split("<", 1)[0].strip()
    if adapter_type in _JSON_TEXT_NESTED and _nested_spark_type(name, base):
        return JSON
    if base in ("array", "list"):
        return JSON if adapter_type in _JSON_TEXT_ARRAYS else ARRAY
    if base in ("struct", "map", "row"):
        return STRUCT
    if base == "union":
        return UNION
    if base in ("json", "jsonb", "variant", "object"):
        return JSON
    if base in (
        "timestamp with time zone",
        "timestamptz",
        "timestamp_tz",
        "timestamp_ltz",
        "datetimeoffset",
    ):
        return TIMESTAMPTZ
    if base.startswith(("timestamp", "datetime")):
        return TIMESTAMP
    if base == "date":
        return DATE
    if base in _TIME_NAMES:
        return TIME
    if base == "money":
        return MONEY
    if base in ("boolean", "bool"):
        return BOOLEAN
    if base in _INTEGER_NAMES:
        return INTEGER
    if base in _FLOAT_NAMES or base.startswith("double"):
        return FLOAT
    decimal = _DECIMAL.match(name)
    if decimal:
        scale = decimal.group(2)
        if decimal.group(1) is None:
            # Snowflake's NUMBER is NUMBER(38,0); elsewhere a bare numeric has any scale.
            return INTEGER if base == "number" else NUMERIC
        return INTEGER if scale is None or int(scale) == 0 else DECIMAL
    if base.startswith(_TEXT_NAMES):
        return TEXT
    return OTHER


class InvalidValue(ValueError):
    pass


def to_json_value(value: Any, *, nested: bool = False) -> Any:
    """A warehouse value as Braze expects it; raises InvalidValue for what Braze cannot take."""
    convert = _BY_TYPE.get(type(value))  # exact types first: this runs for every value sent
    if convert is None:
        convert = next((c for t, c in _BY_TYPE.items() if isinstance(value, t)), _unsupported)
    return convert(value, nested)


def _same(value: Any, nested: bool) -> Any:
    return value


def _text(value: str, nested: bool) -> str:
    if len(value) > MAX_STRING:
        raise InvalidValue(f"text of {len(value)} characters (Braze's limit is {MAX_STRING})")
    return value


def _float(value: float, nested: bool) -> float:
    if not math.isfinite(value):
        raise InvalidValue(f"number {value} (Braze takes only finite numbers)")
    return value


def _decimal(value: Decimal, nested: bool) -> int | float:
    if not value.is_finite():
        raise InvalidValue(f"number {value} (Braze takes only finite numbers)")
    # By the column's scale, not the value, so one attribute keeps one JSON type.
    digits, exponent = value.as_tuple()[1:]
    if isinstance(exponent, int) and exponent >= 0:
        if len(digits) + exponent > MAX_INTEGER_DIGITS:
            raise InvalidValue(
                f"integer of {len(digits) + exponent} digits (at most {MAX_INTEGER_DIGITS} are sent)"
            )
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValue(f"number {value} is too large for Braze")
    return number


def _timestamp(value: dt.datetime, nested: bool) -> Any:
    text = timestamp_text(value)
    return {"$time": text} if nested else text


def _date(value: dt.date, nested: bool) -> Any:
    text = value.isoformat()
    return {"$time": text} if nested else text


def _time(value: dt.time, nested: bool) -> str:
    """`HH:MM:SS`, a fraction without trailing zeros, an offset as `+HH[:MM[:SS]]`: the text
    DuckDB and PostgreSQL give a time (the `time_text` macro), so one attribute keeps one form
    whichever way its value came."""
    text = value.replace(tzinfo=None).isoformat()
    if "." in text:
        text = text.rstrip("0")
    offset = value.utcoffset()
    if offset is not None:
        seconds = int(offset.total_seconds())
        hours, rest = divmod(abs(seconds), 3600)
        minutes, seconds_part = divmod(rest, 60)
        text += ("-" if seconds < 0 else "+") + f"{hours:02d}"
        if minutes or seconds_part:
            text += f":{minutes:02d}"
        if seconds_part:
            text += f":{seconds_part:02d}"
    return text


def _array(value: list[Any] | tuple[Any, ...], nested: bool) -> list[Any]:
    if len(value) > MAX_ARRAY_ITEMS:
        raise InvalidValue(f"array of {len(value)} items (Braze's limit is {MAX_ARRAY_ITEMS})")
    if not nested:
        # The common case first, in one plain loop: an array of short strings.
        for item in value:
            if type(item) is not str or len(item) > MAX_STRING:
                break
        else:
            return list(value)
    else:
        return [_nested_value(v) for v in value]
    items = []
    has_objects = False
    for item in value:
        if item is None:
            raise InvalidValue("null inside an array (Braze takes none)")
        if isinstance(item, list | tuple):
            raise InvalidValue("an array inside an array (Braze takes none)")
        has_objects = has_objects or isinstance(item, dict)
        items.append(to_json_value(item, nested=isinstance(item, dict)))
    # An array of objects follows the nested-object rules, size included: one invalid one
    # drops the nested updates of every user in the request.
    if has_objects and _json_size(items) > MAX_NESTED_BYTES:
        raise InvalidValue("array of objects over 100 KB (Braze's limit)")
    return items


def _binary(value: Any, nested: bool) -> Any:
    raise InvalidValue(
        "binary data, which Braze cannot store: encode it as text (hex, base64) in the model"
    )


def _interval(value: dt.timedelta, nested: bool) -> Any:
    raise InvalidValue(
        "an interval, which Braze cannot store: turn it into a number (of seconds, of days) "
        "in the model"
    )


def _object(value: dict[Any, Any], nested: bool) -> dict[str, Any]:
    return {_nested_key(k): _nested_value(v) for k, v in value.items()}


def _nested_value(value: Any) -> Any:
    """A value inside a nested object. Braze drops every nested update of a request when one
    is invalid (a null, say), so each such value rejects its own row here instead."""
    if value is None:
        raise InvalidValue(
            "null inside a nested object (Braze drops the whole request's nested updates)"
        )
    return to_json_value(value, nested=True)


def _unsupported(value: Any, nested: bool) -> Any:
    raise InvalidValue(f"a value of type {type(value).__name__}, which Braze cannot store")


# Order matters for subclasses: bool before int, datetime before date.
_BY_TYPE: dict[type, Callable[[Any, bool], Any]] = {
    str: _text,
    type(None): _same,
    bool: _same,
    int: _same,
    float: _float,
    Decimal: _decimal,
    dt.datetime: _timestamp,
    dt.date: _date,
    dt.time: _time,
    uuid.UUID: lambda value, nested: str(value),
    list: _array,
    tuple: _array,
    dict: _object,
    dt.timedelta: _interval,
    bytes: _binary,
    bytearray: _binary,
    memoryview: _binary,
}


def _from_json_text(value: Any) -> Any:
    """A JSON column (Snowflake's ARRAY, OBJECT and VARIANT too) arrives as text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise InvalidValue(f"invalid JSON ({e})") from None
    return to_json_value(value)


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with `Z`; a timestamp without zone is UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def time_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat() + "T00:00:00Z"
    if isinstance(value, str) and value:
        return value
    raise InvalidValue(f"time {value!r} is not a timestamp")


# A map's keys (DuckDB's MAP(INTEGER, ...), MAP(DATE, ...)) become text as the warehouse's
# JSON has them; keys of other types (bytes, an interval) have no text Braze should get.
_KEY_TYPES = (str, int, float, Decimal, dt.date, uuid.UUID)


def _nested_key(key: Any) -> str:
    if isinstance(key, bool):
        text = "true" if key else "false"
    elif isinstance(key, dt.time):
        text = _time(key, True)
    elif isinstance(key, _KEY_TYPES):
        text = str(key)
    else:
        raise InvalidValue(f"a nested key of type {type(key).__name__}, which Braze cannot take")
    if not text:
        raise InvalidValue("empty key in a nested object, which Braze forbids")
    if "." in text or "$" in text:
        raise InvalidValue(f"nested key {text!r} contains `.` or `$`, which Braze forbids")
    if len(text) > MAX_STRING:
        raise InvalidValue(f"nested key of {len(text)} characters (limit {MAX_STRING})")
    return text


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_bytes(value: Any) -> bytes:
    """The value's compact JSON, UTF-8, as it is sent."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the standard library's encoder
        return _ENCODER.encode(value).encode()


def _json_size(value: Any) -> int:
    """Bytes of the value's compact JSON, as it is sent."""
    return len(json_bytes(value))


def _data_points(value: Any) -> int:
    """Braze bills each attribute written, and each key of a nested object."""
    if isinstance(value, dict) and "$time" not in value:
        return max(1, sum(_data_points(v) for v in value.values()))
    return 1


# ------------------------------------------------------------------ converters by family

# What the `sendable` macro makes of dates and timestamps: UTC, microseconds, `Z`; anything
# else (a year before 1 or after 9999, infinity) cannot be stored by Braze unaltered.
_ISO_TIMESTAMP = re.compile(r"(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_ISO_DATE = re.compile(r"(?!0000)\d{4}-\d\d-\d\d")


def _iso_timestamp(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if _ISO_TIMESTAMP.fullmatch(value):
            return value[:-8] + "Z" if value.endswith(".000000Z") else value
        raise InvalidValue(
            f"timestamp {value[:60]!r} is outside what Braze stores (years 1 to 9999, finite)"
        )
    return to_json_value(value)  # a driver that hands over datetimes (a macro overridden)


def _iso_date(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if _ISO_DATE.fullmatch(value):
            return value
        raise InvalidValue(
            f"date {value[:60]!r} is outside what Braze stores (years 1 to 9999, finite)"
        )
    return to_json_value(value)


def _generic(value: Any) -> Any:
    return to_json_value(value)


# Per family, the type its values usually arrive as, checked first: a value of exactly that
# type (or null) takes the short path, anything else `to_json_value`, with the same result.
def _text_value(value: Any) -> Any:
    if type(value) is str and len(value) <= MAX_STRING:
        return value
    return None if value is None else to_json_value(value)


def _as_is(expected: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or type(value) is expected:
            return value
        return to_json_value(value)

    return convert


def _decimal_value(value: Any) -> Any:
    if type(value) is Decimal:
        return _decimal(value, False)
    return None if value is None else to_json_value(value)


def _scaled_decimal_value(value: Any) -> Any:
    """A column with decimal places: every value is a float in Braze (one JSON type)."""
    if type(value) is Decimal:
        number = float(value)
        if math.isfinite(number) and value.is_finite():
            return number
        return _decimal(value, False)  # raises, saying why
    return None if value is None else to_json_value(value)


def _array_value(value: Any) -> Any:
    if type(value) is list or type(value) is tuple:  # a tuple: DuckDB's fixed-size arrays
        return _array(value, False)
    if type(value) is str:  # PostgreSQL: an array psycopg2 does not decode, as its text
        return _array(_postgres_array_items(value), False)
    return None if value is None else to_json_value(value)


_INTEGER_TEXT = re.compile(r"-?[0-9]+")


def _integer_value(value: Any) -> Any:
    if value is None or type(value) is int:
        return value
    if type(value) is str and _INTEGER_TEXT.fullmatch(value):  # DuckDB's BIGNUM: its digits
        digits = len(value.lstrip("-"))
        if digits > MAX_INTEGER_DIGITS:
            raise InvalidValue(
                f"integer of {digits} digits (at most {MAX_INTEGER_DIGITS} are sent)"
            )
        return int(value)
    return to_json_value(value)


def _unsupported_type(value: Any) -> Any:
    if value is None:
        return None
    raise InvalidValue(
        "a map keyed by lists, structs or maps, which Braze cannot store (its nested keys are "
        "text): key it by text or numbers in the model"
    )


def _postgres_array_items(text: str) -> list[Any]:
    """The items of a PostgreSQL array's text (`{a,"b c",NULL}`, `[0:1]={a,b}`), which psycopg2
    hands over for an array of a type it does not decode itself (an enum, uuid, citext): each
    item's text, as psycopg2 hands over a value of that type, None for NULL, a list for an
    inner array."""
    start = text.find("]={") + 2 if text.startswith("[") else 0  # `[0:1]=`: bounds, if any
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    i, end = start, len(text)
    while i < end:
        char = text[i]
        if char == "{":
            inner: list[Any] = []
            if stack:
                stack[-1].append(inner)
            elif result is None:
                result = inner
            else:
                break
            stack.append(inner)
            i += 1
        elif not stack:
            break
        elif char == "}":
            stack.pop()
            i += 1
        elif char == ",":
            i += 1
        elif char == '"':
            item, i = [], i + 1
            while i < end and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                item.append(text[i : i + 1])
                i += 1
            stack[-1].append("".join(item))
            i += 1
        else:
            j = i
            while j < end and text[j] not in ",}":
                j += 1
            token = text[i:j]
            stack[-1].append(None if token.upper() == "NULL" else token)
            i = j
    if result is None or stack or i < end:
        raise InvalidValue(f"array text {text[:60]!r} that cannot be read")
    return result


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    TIMESTAMP: _iso_timestamp,
    TIMESTAMPTZ: _iso_timestamp,
    DATE: _iso_date,
    JSON: _from_json_text,
    TEXT: _text_value,
    INTEGER: _integer_value,
    BOOLEAN: _as_is(bool),
    DECIMAL: _scaled_decimal_value,
    MONEY: _scaled_decimal_value,  # read as a numeric (the `sendable` macro)
    NUMERIC: _decimal_value,
    ARRAY: _array_value,
    TIME: _text_value,  # the warehouse's text, where the `time_text` macro makes it
    UNSUPPORTED: _unsupported_type,
}


def converter(family: str) -> Callable[[Any], Any]:
    """The function that turns one value of a column of this family into Braze's JSON value
    (raising InvalidValue for what Braze cannot take)."""
    return _CONVERTERS.get(family, _generic)


def time_converter(family: str) -> Callable[[Any], str]:
    """For an event's or purchase's `time`: ISO 8601 with a time, in UTC."""
    if family == DATE:

        def midnight(value: Any) -> str:
            date = _iso_date(value)
            return time_text(date + "T00:00:00Z" if isinstance(date, str) else date)

        return midnight
    if family in (TIMESTAMP, TIMESTAMPTZ):
        return lambda value: time_text(_iso_timestamp(value))
    if family == TIME:

        def time_of_day(value: Any) -> str:
            if value is None:
                return time_text(value)  # raises, saying so
            raise InvalidValue(f"time {value!r} is a time of day, without a date")

        return time_of_day
    return time_text  # text is passed as it is; datetimes from other adapters converted
