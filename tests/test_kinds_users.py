"""kinds/users.py: a users delta row -> a Braze attributes object, or a rejection."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from dbt_braze.kinds import Builder
from dbt_braze.kinds.users import USERS
from dbt_braze.payloads import AttributeDelta, BrazeObject, Rejection
from dbt_braze.spec import Identifier, ModelSync, ResolvedSync

UTC = dt.timezone.utc


# ------------------------------------------------------------------------------- users


def users_builder(
    identifier: Identifier | None = None,
    mode: str = "upsert",
    mapped: tuple[tuple[str, str], ...] = (("email", "email"), ("plan", "plan")),
    json_columns: frozenset[str] = frozenset(),
) -> Builder:
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
    return USERS.builder(3, resolved)


def user_row(
    key: str | None, kind: str, values: tuple[Any, ...], changed: tuple[bool, ...], seq: int = 7
) -> AttributeDelta:
    return AttributeDelta(seq, key, kind, values, changed)


def built(result: BrazeObject | Rejection) -> BrazeObject:
    assert isinstance(result, BrazeObject), result
    return result


def rejected(result: BrazeObject | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


def test_new_user_sends_identifier_and_every_changed_attribute() -> None:
    obj = built(users_builder().build(user_row("u1", "new", ("a@x.io", "pro"), (True, True))))

    assert obj.array == "attributes"
    assert obj.body == {"external_id": "u1", "email": "a@x.io", "plan": "pro"}
    assert (obj.model, obj.seq, obj.data_points) == (3, 7, 2)


def test_only_changed_attributes_are_included() -> None:
    obj = built(
        users_builder().build(user_row("u1", "changed", ("a@x.io", "enterprise"), (False, True)))
    )

    assert obj.body == {"external_id": "u1", "plan": "enterprise"}
    assert obj.data_points == 1


def test_new_user_null_attributes_are_omitted() -> None:
    obj = built(users_builder().build(user_row("u1", "new", ("a@x.io", None), (True, True))))

    assert obj.body == {"external_id": "u1", "email": "a@x.io"}
    assert obj.data_points == 1


def test_attribute_changed_to_null_is_sent_as_none() -> None:
    obj = built(users_builder().build(user_row("u1", "changed", ("a@x.io", None), (False, True))))

    assert obj.body == {"external_id": "u1", "plan": None}
    assert json.loads(json.dumps(obj.body))["plan"] is None
    assert obj.data_points == 1


def test_deleted_user_sends_null_for_every_attribute_it_had_and_never_recreates() -> None:
    obj = built(users_builder().build(user_row("u1", "deleted", ("a@x.io", "pro"), (True, True))))

    assert obj.body == {
        "external_id": "u1",
        "email": None,
        "plan": None,
        "_update_existing_only": True,
    }
    assert obj.data_points == 2


def test_deleted_user_with_nothing_delivered_needs_no_request() -> None:
    out = users_builder().build(user_row("u1", "deleted", (None, None), (False, False)))

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

    assert built(builder.build(row)).body == {
        "external_id": "u1",
        "signup": "2024-01-15",
        "ltv": 12.5,
        "seen": "2026-01-01T08:00:00Z",
        "tags": ["a", "b"],
    }


def test_user_object_belongs_to_one_user_string_per_identifier() -> None:
    first = built(users_builder().build(user_row("u1", "new", ("a", "b"), (True, True))))
    again = built(users_builder().build(user_row("u1", "changed", ("a", "c"), (False, True))))
    other = built(users_builder().build(user_row("u2", "new", ("a", "b"), (True, True))))

    assert first.user == again.user
    assert first.user != other.user
    assert first.user == ("external_id", "", "u1") and first.key == "u1"


@pytest.mark.parametrize(
    ("kind", "key"),
    [("external_id", "id-1"), ("braze_id", "id-1"), ("email", "b@y.io"), ("phone", "+14155550100")],
)
def test_single_column_identifier_kinds_identify_the_object(kind: str, key: str) -> None:
    builder = users_builder(identifier=Identifier(kind, "the_id"))

    obj = built(builder.build(user_row(key, "new", ("a@x.io", "pro"), (True, True))))

    assert obj.body == {kind: key, "email": "a@x.io", "plan": "pro"}
    assert "_update_existing_only" not in obj.body


def test_user_alias_in_upsert_mode_asks_braze_to_create_the_profile() -> None:
    builder = users_builder(identifier=Identifier("user_alias", "anon_id", "web_anon"))

    obj = built(builder.build(user_row("anon-1", "new", ("a@x.io", "pro"), (True, True))))

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

    obj = built(builder.build(user_row("k1", "new", ("a@x.io", "pro"), (True, True))))

    assert obj.body["_update_existing_only"] is True


def test_user_alias_label_distinguishes_users() -> None:
    web = users_builder(identifier=Identifier("user_alias", "anon_id", "web"))
    app = users_builder(identifier=Identifier("user_alias", "anon_id", "app"))
    row = user_row("same", "new", ("a", "b"), (True, True))

    assert built(web.build(row)).user != built(app.build(row)).user


@pytest.mark.parametrize("key", [None, ""], ids=["null", "empty"])
def test_null_identifier_is_rejected_with_a_reason(key: str | None) -> None:
    rejection = rejected(
        users_builder().build(user_row(key, "new", ("a@x.io", "pro"), (True, True), seq=11))
    )

    assert rejection.reason == "external_id is null"
    assert (rejection.model, rejection.seq, rejection.payload) == (3, 11, None)


def test_null_email_identifier_names_its_kind() -> None:
    builder = users_builder(identifier=Identifier("email", "email_address"))

    rejection = rejected(builder.build(user_row(None, "new", ("a", "b"), (True, True))))

    assert rejection.reason == "email is null"


def test_external_id_over_987_bytes_is_rejected() -> None:
    key = "\u00e9" * 494  # 494 characters, 988 bytes

    rejection = rejected(users_builder().build(user_row(key, "new", ("a", "b"), (True, True))))

    assert rejection.identifier == key
    assert "988 bytes" in rejection.reason and "987" in rejection.reason


def test_external_id_of_exactly_987_bytes_is_sent() -> None:
    key = "\u00e9" * 493 + "x"  # 987 bytes

    obj = built(users_builder().build(user_row(key, "new", ("a", "b"), (True, True))))

    assert obj.body["external_id"] == key


def test_user_alias_name_over_255_characters_is_rejected() -> None:
    builder = users_builder(identifier=Identifier("user_alias", "anon_id", "web"))

    rejection = rejected(builder.build(user_row("a" * 256, "new", ("a", "b"), (True, True))))

    assert "alias_name of 256 characters" in rejection.reason


def test_invalid_attribute_value_rejects_the_row_naming_the_attribute() -> None:
    rejection = rejected(
        users_builder().build(user_row("u1", "new", ("a@x.io", "p" * 256), (True, True)))
    )

    assert rejection.identifier == "u1"
    assert rejection.reason.startswith("attribute `plan`: ")
    assert "256 characters" in rejection.reason


def test_unchanged_invalid_attribute_does_not_reject_the_row() -> None:
    obj = built(
        users_builder().build(user_row("u1", "changed", ("a@x.io", float("nan")), (True, False)))
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

    obj = built(builder.build(user_row("u1", "new", ("pro", song), (True, True))))

    # Braze's own example of this object counts 7 data points; plus 1 for `plan`.
    assert obj.data_points == 8


def test_data_points_count_a_nested_date_as_one_key() -> None:
    builder = users_builder(mapped=(("dates", "dates"),))
    dates = {"birthday": dt.date(1980, 1, 1), "anniversary": dt.date(2020, 5, 28)}

    obj = built(builder.build(user_row("u1", "new", (dates,), (True,))))

    assert obj.body["dates"] == {
        "birthday": {"$time": "1980-01-01"},
        "anniversary": {"$time": "2020-05-28"},
    }
    assert obj.data_points == 2


def test_nested_attribute_over_100_kb_is_rejected() -> None:
    builder = users_builder(mapped=(("blob", "blob"),))
    big = {f"k{i}": "v" * 250 for i in range(450)}  # about 115 KB of JSON

    rejection = rejected(builder.build(user_row("u1", "new", (big,), (True,))))

    assert "attribute `blob`: nested object over 100 KB" in rejection.reason


def test_json_text_column_becomes_a_nested_object() -> None:
    builder = users_builder(mapped=(("prefs", "PREFS"),), json_columns=frozenset({"prefs"}))

    obj = built(builder.build(user_row("u1", "new", ('{"theme": "dark"}',), (True,))))

    assert obj.body["prefs"] == {"theme": "dark"}


def test_invalid_json_text_rejects_the_row() -> None:
    builder = users_builder(mapped=(("prefs", "prefs"),), json_columns=frozenset({"prefs"}))

    rejection = rejected(builder.build(user_row("u1", "new", ("{not json",), (True,))))

    assert rejection.reason.startswith("attribute `prefs`: invalid JSON")


# ------------------------------------------------------------------------ subscriptions


def subscriptions_builder() -> Builder:
    mapped = (
        ("email_subscribe", "email_subscribe"),
        ("subscription_groups.g-news", "news"),
        ("subscription_groups.g-sms", "sms"),
    )
    sync = ModelSync(
        unique_id="model.shop.subscribers",
        name="subscribers",
        relation='"subscribers"',
        object="users",
        identifier=Identifier("external_id", "user_id"),
        attributes=(("email_subscribe", "email_subscribe"),),
        subscription_groups=(("g-news", "news"), ("g-sms", "sms")),
    )
    return USERS.builder(3, ResolvedSync(sync, "user_id", mapped))


@pytest.mark.parametrize(
    ("news", "sms", "groups"),
    [
        ("subscribed", False, [("g-news", "subscribed"), ("g-sms", "unsubscribed")]),
        ("UNSUBSCRIBED", True, [("g-news", "unsubscribed"), ("g-sms", "subscribed")]),
        (None, True, [("g-sms", "subscribed")]),
    ],
)
def test_changed_subscription_groups_travel_in_the_user_object(
    news: object, sms: object, groups: list[tuple[str, str]]
) -> None:
    obj = built(
        subscriptions_builder().build(
            user_row("u1", "changed", (None, news, sms), (False, True, True))
        )
    )

    assert obj.body["subscription_groups"] == [
        {"subscription_group_id": g, "subscription_state": s} for g, s in groups
    ]
    assert obj.data_points == 0  # subscription changes cost none


@pytest.mark.parametrize("state", ["opted_in", "subscribed", "unsubscribed"])
def test_global_subscription_states_are_sent_free(state: str) -> None:
    obj = built(
        subscriptions_builder().build(
            user_row("u1", "new", (state, None, None), (True, True, True))
        )
    )

    assert obj.body["email_subscribe"] == state and obj.data_points == 0


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (("yes", None, None), "'yes' is not a subscription state"),
        (("opted_in", "maybe", None), "'maybe' is neither subscribed, unsubscribed nor a boolean"),
        (("opted_in", None, 1), "1 is neither subscribed"),
    ],
)
def test_a_subscription_value_braze_would_refuse_rejects_the_row(
    values: tuple[object, ...], reason: str
) -> None:
    out = rejected(subscriptions_builder().build(user_row("u1", "new", values, (True, True, True))))

    assert reason in out.reason


def test_a_subscription_that_becomes_null_is_not_sent() -> None:
    out = subscriptions_builder().build(
        user_row("u1", "changed", (None, None, None), (True, True, False))
    )

    assert out is None  # Braze cannot unset a subscription: nothing to send
