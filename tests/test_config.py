"""The `meta.braze` contract (DESIGN.md section 1): parsing, checking against columns, reading."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_braze.config import (
    ConfigProblem,
    Identifier,
    ModelSync,
    ResolvedSync,
    braze_meta,
    parse_draft,
    parse_sync,
    resolve_fields,
)

USERS_KEYS = (
    "`object`, `identifier`, `attributes`, `exclude`, `mode`, `on_delete`, `renamed_from`, "
    "`subscription_groups`, `max_data_points`"
)
EVENTS_KEYS = "`object`, `identifier`, `event_id`, `name`, `time`, `properties`, `mode`"


def parse(raw: Any) -> tuple[ModelSync | None, list[ConfigProblem]]:
    return parse_sync("model.shop.braze_users", "braze_users", '"db"."main"."braze_users"', raw)


def problems_of(raw: Any) -> dict[str, str]:
    sync, problems = parse(raw)
    assert sync is None, "an invalid spec must not produce a ModelSync"
    assert problems, "an invalid spec must report at least one problem"
    assert all(p.model == "braze_users" for p in problems)
    return {p.key: p.message for p in problems}


def users(**extra: Any) -> dict[str, Any]:
    return {"object": "users", "identifier": {"external_id": "user_id"}, **extra}


def events(**extra: Any) -> dict[str, Any]:
    spec = {
        "object": "events",
        "identifier": {"external_id": "user_id"},
        "event_id": "event_id",
        "name": "event_name",
        "time": "occurred_at",
    }
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def purchases(**extra: Any) -> dict[str, Any]:
    spec = {
        "object": "purchases",
        "identifier": {"external_id": "user_id"},
        "purchase_id": "order_line_id",
        "product_id": "sku",
        "currency": "currency",
        "price": "unit_price",
        "time": "purchased_at",
    }
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def resolved(raw: dict[str, Any], columns: list[str]) -> ResolvedSync:
    sync, problems = parse(raw)
    assert sync is not None, problems
    result, problems = resolve_fields(sync, columns, "warehouse")
    assert result is not None, problems
    return result


def resolve_problems(raw: dict[str, Any], columns: list[str]) -> dict[str, str]:
    sync, problems = parse(raw)
    assert sync is not None, problems
    result, problems = resolve_fields(sync, columns, "manifest")
    assert result is None
    return {p.key: p.message for p in problems}


# --------------------------------------------------------------------------- parse_sync: valid


def test_minimal_users_spec_parses_with_defaults() -> None:
    sync, problems = parse(users())

    assert problems == []
    assert sync is not None
    assert sync.object == "users"
    assert sync.identifier == Identifier("external_id", "user_id")
    assert (sync.mode, sync.on_delete) == ("upsert", "ignore")
    assert sync.attributes is None and sync.exclude == ()
    assert sync.unique_id == "model.shop.braze_users"
    assert sync.relation == '"db"."main"."braze_users"'


def test_full_users_spec_keeps_attributes_in_order_and_choices() -> None:
    sync, problems = parse(
        users(
            attributes={"email": "email", "first_name": "first_name", "plan": "plan_tier"},
            mode="update_only",
            on_delete="unset",
        )
    )

    assert problems == []
    assert sync is not None
    assert sync.attributes == (
        ("email", "email"),
        ("first_name", "first_name"),
        ("plan", "plan_tier"),
    )
    assert (sync.mode, sync.on_delete) == ("update_only", "unset")


def test_exclude_given_as_a_single_name_becomes_a_list() -> None:
    sync, problems = parse(users(exclude="loaded_at"))

    assert problems == []
    assert sync is not None and sync.exclude == ("loaded_at",)


@pytest.mark.parametrize("kind", ["external_id", "braze_id", "email", "phone"])
def test_each_single_column_identifier_kind_is_accepted(kind: str) -> None:
    sync, problems = parse(users(identifier={kind: "the_column"}))

    assert problems == []
    assert sync is not None and sync.identifier == Identifier(kind, "the_column")


def test_user_alias_identifier_keeps_column_and_literal_label() -> None:
    sync, problems = parse(
        users(identifier={"user_alias": {"alias_name": "anon_id", "alias_label": "web_anon"}})
    )

    assert problems == []
    assert sync is not None
    assert sync.identifier == Identifier("user_alias", "anon_id", "web_anon")


def test_events_spec_maps_required_fields_and_properties() -> None:
    sync, problems = parse(events(properties={"plan": "plan"}))

    assert problems == []
    assert sync is not None
    assert dict(sync.fields) == {
        "event_id": "event_id",
        "name": "event_name",
        "time": "occurred_at",
    }
    assert sync.properties == (("plan", "plan"),)
    assert sync.id_field == "event_id"


def test_purchases_spec_maps_required_and_optional_fields() -> None:
    sync, problems = parse(purchases(quantity="qty", properties={"coupon": "coupon"}))

    assert problems == []
    assert sync is not None
    assert dict(sync.fields) == {
        "purchase_id": "order_line_id",
        "product_id": "sku",
        "currency": "currency",
        "price": "unit_price",
        "quantity": "qty",
        "time": "purchased_at",
    }
    assert sync.field("quantity") == "qty"
    assert sync.id_field == "purchase_id"


def test_events_accept_mode() -> None:
    sync, problems = parse(events(mode="update_only"))

    assert problems == []
    assert sync is not None and sync.mode == "update_only"


# ------------------------------------------------------------------------- parse_sync: problems


def test_unknown_key_names_the_key_and_lists_allowed_keys() -> None:
    found = problems_of(users(attribute={"email": "email"}))

    assert set(found) == {"attribute"}
    assert "unknown key for object `users`" in found["attribute"]
    assert USERS_KEYS in found["attribute"]


def test_problem_text_names_model_and_key() -> None:
    _, problems = parse(users(colour="blue"))

    assert [str(p) for p in problems] == [
        f"braze_users: meta.braze.colour: unknown key for object `users`; expected one of {USERS_KEYS}"
    ]


def test_keys_of_another_object_are_unknown_for_events() -> None:
    found = problems_of(events(on_delete="unset", exclude=["x"], attributes={"a": "b"}))

    assert set(found) == {"on_delete", "exclude", "attributes"}
    assert all(EVENTS_KEYS in message for message in found.values())


def test_properties_are_unknown_for_users() -> None:
    found = problems_of(users(properties={"plan": "plan"}))

    assert set(found) == {"properties"}


def test_spec_that_is_not_a_mapping_is_refused() -> None:
    found = problems_of(["users"])

    assert "expected a mapping with at least `object` and `identifier`" in found[""]


def test_missing_object_is_required() -> None:
    found = problems_of({"identifier": {"external_id": "user_id"}})

    assert "required" in found["object"]
    assert "`users`, `events`, `purchases`" in found["object"]


def test_unknown_object_names_the_choices_and_the_value() -> None:
    found = problems_of(users(object="user"))

    assert (
        "expected one of `users`, `events`, `purchases`, `catalog`, `identify`," in found["object"]
    )
    assert "`canvas_trigger`, `campaign_trigger`, got 'user'" in found["object"]


def test_missing_identifier_is_required_with_an_example() -> None:
    found = problems_of({"object": "users"})

    assert set(found) == {"identifier"}
    assert "required" in found["identifier"]
    assert "{external_id: user_id}" in found["identifier"]


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param({}, id="zero-kinds"),
        pytest.param({"external_id": "user_id", "email": "email"}, id="two-kinds"),
        pytest.param("user_id", id="a-bare-column"),
    ],
)
def test_identifier_needs_exactly_one_kind(identifier: Any) -> None:
    found = problems_of(users(identifier=identifier))

    assert set(found) == {"identifier"}
    assert (
        "exactly one of `external_id`, `user_alias`, `braze_id`, `email`, `phone`"
        in (found["identifier"])
    )


def test_unknown_identifier_kind_is_named() -> None:
    found = problems_of(users(identifier={"uid": "user_id"}))

    assert set(found) == {"identifier.uid"}
    assert "unknown identifier" in found["identifier.uid"]


def test_identifier_column_must_be_a_name() -> None:
    found = problems_of(users(identifier={"external_id": 5}))

    assert "expected the name of a column, got 5" in found["identifier.external_id"]


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param({"alias_name": "anon_id"}, id="no-label"),
        pytest.param({"alias_label": "web"}, id="no-name"),
        pytest.param({"alias_name": "anon_id", "alias_label": "web", "x": 1}, id="extra-key"),
        pytest.param("anon_id", id="not-a-mapping"),
    ],
)
def test_user_alias_needs_alias_name_and_alias_label(alias: Any) -> None:
    found = problems_of(users(identifier={"user_alias": alias}))

    assert set(found) == {"identifier.user_alias"}
    assert (
        "{alias_name: <column>, alias_label: <literal label>}" in (found["identifier.user_alias"])
    )


def test_user_alias_label_must_be_non_empty_text() -> None:
    found = problems_of(users(identifier={"user_alias": {"alias_name": "a", "alias_label": ""}}))

    assert "expected a text label" in found["identifier.user_alias.alias_label"]


def test_both_user_alias_problems_are_reported_at_once() -> None:
    found = problems_of(users(identifier={"user_alias": {"alias_name": 5, "alias_label": ""}}))

    assert {"identifier.user_alias.alias_name", "identifier.user_alias.alias_label"} <= set(found)


def test_exclude_is_refused_alongside_attributes() -> None:
    found = problems_of(users(attributes={"email": "email"}, exclude=["loaded_at"]))

    assert set(found) == {"exclude"}
    assert "only allowed without `attributes`" in found["exclude"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("attributes", ["email", "plan"], "expected a non-empty mapping"),
        ("attributes", {}, "expected a non-empty mapping"),
        ("attributes", "email", "expected a non-empty mapping"),
        ("exclude", {"loaded_at": True}, "expected a list of column names"),
        ("exclude", ["loaded_at", 3], "expected a list of column names"),
    ],
)
def test_wrong_types_are_refused_with_what_was_expected(
    key: str, value: Any, expected: str
) -> None:
    found = problems_of(users(**{key: value}))

    assert set(found) == {key}
    assert expected in found[key]
    assert repr(value)[:20] in found[key]


def test_attribute_mapped_to_a_non_name_names_the_attribute() -> None:
    found = problems_of(users(attributes={"email": "email", "plan": 7, "tier": " "}))

    assert set(found) == {"attributes.plan", "attributes.tier"}
    assert "expected a column name, got 7" in found["attributes.plan"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("mode", "append"), ("mode", None), ("on_delete", "drop"), ("on_delete", ["unset"])],
)
def test_mode_and_on_delete_must_be_one_of_their_choices(key: str, value: Any) -> None:
    found = problems_of(users(**{key: value}))

    choices = {
        "mode": "`upsert`, `update_only`",
        "on_delete": "`ignore`, `unset`, `delete`",
    }[key]
    assert set(found) == {key}
    assert f"expected one of {choices}, got {value!r}" in found[key]


def test_events_need_event_id_name_and_time() -> None:
    found = problems_of({"object": "events", "identifier": {"external_id": "user_id"}})

    assert set(found) == {"event_id", "name", "time"}
    assert all("required; expected the name of a column" in m for m in found.values())


def test_purchases_need_purchase_id_product_id_currency_price_and_time() -> None:
    found = problems_of({"object": "purchases", "identifier": {"external_id": "user_id"}})

    assert set(found) == {"purchase_id", "product_id", "currency", "price", "time"}


def test_purchase_quantity_is_optional_but_must_be_a_name_when_given() -> None:
    sync, problems = parse(purchases())
    assert problems == [] and sync is not None and sync.field("quantity") is None

    found = problems_of(purchases(quantity=["qty"]))
    assert set(found) == {"quantity"}
    assert "expected the name of a column, got ['qty']" in found["quantity"]


def test_event_field_of_the_wrong_type_is_refused() -> None:
    found = problems_of(events(name={"column": "event_name"}))

    assert set(found) == {"name"}
    assert "expected a column, or {value: <text>} for a constant" in found["name"]


def test_all_problems_of_one_users_model_are_reported_at_once() -> None:
    found = problems_of(
        {
            "object": "users",
            "identifier": {"external_id": "user_id", "braze_id": "bid"},
            "attributes": ["email"],
            "mode": "sometimes",
            "on_delete": "drop",
            "colour": "blue",
        }
    )

    assert set(found) == {"identifier", "attributes", "mode", "on_delete", "colour"}


def test_all_problems_of_one_purchases_model_are_reported_at_once() -> None:
    found = problems_of(
        {
            "object": "purchases",
            "identifier": {"user_alias": {"alias_name": "anon"}},
            "purchase_id": "order_line_id",
            "price": 9.99,
            "properties": ["coupon"],
            "mode": "upsert",
            "on_delete": "unset",
        }
    )

    assert set(found) == {
        "identifier.user_alias",
        "product_id",
        "currency",
        "price",
        "time",
        "properties",
        "on_delete",
    }


def test_missing_object_does_not_hide_identifier_and_mode_problems() -> None:
    found = problems_of({"identifier": {}, "mode": "sometimes"})

    assert {"object", "identifier", "mode"} <= set(found)


# ---------------------------------------------------------------------------- resolve_fields


def test_users_without_attributes_map_every_column_but_identifier_and_exclude() -> None:
    result = resolved(
        users(exclude=["loaded_at"]), ["user_id", "email", "plan", "loaded_at", "score"]
    )

    assert result.identifier_column == "user_id"
    assert result.mapped == (("email", "email"), ("plan", "plan"), ("score", "score"))


def test_users_with_attributes_map_exactly_those() -> None:
    result = resolved(
        users(attributes={"email": "email_address", "plan": "plan_tier"}),
        ["user_id", "email_address", "plan_tier", "other"],
    )

    assert result.mapped == (("email", "email_address"), ("plan", "plan_tier"))


def test_column_matching_is_case_insensitive_and_returns_the_warehouse_spelling() -> None:
    result = resolved(
        users(identifier={"external_id": "user_id"}, attributes={"email": "email"}),
        ["USER_ID", "EMAIL"],
    )

    assert result.identifier_column == "USER_ID"
    assert result.mapped == (("email", "EMAIL"),)


def test_exclude_and_identifier_match_case_insensitively_when_mapping_every_column() -> None:
    result = resolved(users(exclude=["LOADED_AT"]), ["User_Id", "Email", "loaded_at"])

    assert result.identifier_column == "User_Id"
    # The attribute name is the column's own spelling.
    assert result.mapped == (("Email", "Email"),)


def test_default_names_are_lower_case_when_the_warehouse_reports_upper_case() -> None:
    # Snowflake reports `select amount, channel` as AMOUNT, CHANNEL: Braze must still see the
    # names the model wrote, the names it gets on every other warehouse.
    sync, _ = parse(events())
    assert sync is not None
    result, problems = resolve_fields(
        sync,
        ["EVENT_ID", "USER_ID", "EVENT_NAME", "OCCURRED_AT", "AMOUNT", "Channel_Name", "N2"],
        "warehouse",
    )

    assert result is not None, problems
    assert result.mapped == (
        ("amount", "AMOUNT"),
        ("Channel_Name", "Channel_Name"),
        ("n2", "N2"),
    )


def test_default_names_keep_the_spelling_the_models_yaml_documents() -> None:
    sync, _ = parse(users())
    assert sync is not None
    result, problems = resolve_fields(
        sync,
        ["USER_ID", "FIRST_NAME", "LTV", "PLAN"],
        "warehouse",
        documented=["user_id", "First_Name", "LTV"],
    )

    assert result is not None, problems
    assert result.mapped == (("First_Name", "FIRST_NAME"), ("LTV", "LTV"), ("plan", "PLAN"))


def test_an_upper_case_column_named_like_a_reserved_field_is_refused() -> None:
    found = resolve_problems(users(identifier={"external_id": "ID"}), ["ID", "EXTERNAL_ID"])

    assert "external_id" in found["attributes"]


def test_unknown_column_is_named_with_the_columns_that_exist() -> None:
    found = resolve_problems(users(attributes={"plan": "plan_tier"}), ["user_id", "email", "plan"])

    assert found == {
        "attributes.plan": "column `plan_tier` is not in the model (manifest: user_id, email, plan)"
    }


def test_every_unknown_column_is_reported_at_once() -> None:
    found = resolve_problems(
        events(identifier={"external_id": "uid"}, time="ts", properties={"plan": "tier"}),
        ["user_id", "event_id", "event_name", "occurred_at"],
    )

    assert set(found) == {"identifier.external_id", "time", "properties.plan"}


def test_unknown_identifier_column_names_the_alias_name_key() -> None:
    found = resolve_problems(
        users(identifier={"user_alias": {"alias_name": "anon", "alias_label": "web"}}),
        ["user_id"],
    )

    assert set(found) == {"identifier.user_alias.alias_name"}


def test_unknown_excluded_column_is_reported() -> None:
    found = resolve_problems(users(exclude=["nope"]), ["user_id", "email"])

    assert "column `nope` is not in the model" in found["exclude"]


def test_model_without_columns_says_none() -> None:
    found = resolve_problems(users(), [])

    assert "(manifest: none)" in found["identifier.external_id"]


def test_events_without_properties_map_every_column_not_used_by_a_field() -> None:
    result = resolved(
        events(), ["event_id", "user_id", "event_name", "occurred_at", "amount", "channel"]
    )

    assert result.identifier_column == "user_id"
    assert result.fields == (
        ("event_id", "event_id"),
        ("name", "event_name"),
        ("time", "occurred_at"),
    )
    assert result.mapped == (("amount", "amount"), ("channel", "channel"))


def test_events_with_properties_map_only_those_in_warehouse_spelling() -> None:
    result = resolved(
        events(properties={"Amount": "AMOUNT"}),
        ["event_id", "user_id", "event_name", "occurred_at", "amount", "channel"],
    )

    assert result.mapped == (("Amount", "amount"),)


def test_purchases_without_properties_skip_every_field_column() -> None:
    result = resolved(
        purchases(quantity="QTY"),
        [
            "ORDER_LINE_ID",
            "USER_ID",
            "SKU",
            "CURRENCY",
            "UNIT_PRICE",
            "QTY",
            "PURCHASED_AT",
            "COUPON",
        ],
    )

    assert result.field("quantity") == "QTY"
    assert result.field("price") == "UNIT_PRICE"
    # Sent under its own name, in lower case: the name the model gives on every warehouse.
    assert result.mapped == (("coupon", "COUPON"),)


# -------------------------------------------------------------------------------- braze_meta


def test_braze_meta_reads_config_meta_first() -> None:
    node = {"config": {"meta": {"braze": {"from": "config"}}}, "meta": {"braze": {"from": "top"}}}

    assert braze_meta(node) == {"from": "config"}


@pytest.mark.parametrize(
    "node",
    [
        pytest.param({"config": {"meta": {"owner": "x"}}, "meta": {"braze": {"from": "top"}}}),
        pytest.param({"config": {}, "meta": {"braze": {"from": "top"}}}),
        pytest.param({"meta": {"braze": {"from": "top"}}}, id="no-config"),
        pytest.param({"config": None, "meta": {"braze": {"from": "top"}}}, id="config-null"),
    ],
)
def test_braze_meta_falls_back_to_top_level_meta(node: dict[str, Any]) -> None:
    assert braze_meta(node) == {"from": "top"}


def test_braze_meta_is_none_when_no_meta_declares_braze() -> None:
    assert braze_meta({"config": {"meta": {"owner": "x"}}, "meta": {}}) is None
    assert braze_meta({}) is None


def test_a_property_mapping_does_not_rename_the_model() -> None:
    from dbt_braze.config import parse_sync

    sync, problems = parse_sync(
        "model.p.purchases",
        "purchases",
        '"db"."main"."purchases"',
        {
            "object": "purchases",
            "identifier": {"external_id": "u"},
            "purchase_id": "id",
            "product_id": "sku",
            "currency": "cur",
            "price": "price",
            "time": "at",
            "properties": {"coupon": "coupon"},
        },
    )
    assert problems == [] and sync is not None
    assert sync.name == "purchases"


def _events_with_lookback(lookback: object) -> dict[str, object]:
    return {
        "object": "events",
        "identifier": {"external_id": "u"},
        "event_id": "id",
        "name": "n",
        "time": "t",
        "lookback": lookback,
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("3 days", (3, "day")), ("12 hours", (12, "hour")), ("1 minute", (1, "minute"))],
)
def test_lookback_durations(text: str, parsed: tuple[int, str]) -> None:
    from dbt_braze.config import parse_sync

    raw = _events_with_lookback(text)
    sync, problems = parse_sync("model.p.e", "e", "e", raw)
    assert problems == [] and sync is not None and sync.lookback == parsed


@pytest.mark.parametrize("text", ["3", "soon", "-2 days", "2 weeks", 5])
def test_a_lookback_that_is_not_a_duration_is_refused(text: object) -> None:
    from dbt_braze.config import parse_sync

    raw = _events_with_lookback(text)
    _, problems = parse_sync("model.p.e", "e", "e", raw)
    assert [p.key for p in problems] == ["lookback"]


# ---------------------------------------------------------------------- every problem at once


def test_an_unknown_key_does_not_hide_the_models_column_problems() -> None:
    draft, problems = parse_draft(
        "model.shop.braze_users",
        "braze_users",
        '"braze_users"',
        users(atributes={"plan": "plan"}, exclude=["loaded_at", "nope"]),
    )
    assert draft is not None and [p.key for p in problems] == ["atributes"]

    _, column_problems = resolve_fields(draft, ["user_id", "plan", "loaded_at"], "warehouse")

    assert [p.key for p in column_problems] == ["exclude"]
    assert "column `nope` is not in the model" in column_problems[0].message


def test_a_spec_with_problems_is_never_a_sync() -> None:
    sync, problems = parse(users(atributes={"plan": "plan"}))
    assert sync is None and problems


# ---------------------------------------------------------------------------- reserved names


@pytest.mark.parametrize(
    "column", ["external_id", "braze_id", "user_alias", "_update_existing_only", "_merge_objects"]
)
def test_a_column_with_a_reserved_name_among_default_attributes_is_a_problem(column: str) -> None:
    sync, _ = parse(users())
    assert sync is not None

    result, problems = resolve_fields(sync, ["user_id", "plan", column], "warehouse")

    assert result is None
    (problem,) = problems
    assert problem.key == "attributes"
    assert f"`{column}` cannot be sent as an attribute" in problem.message
    assert f"exclude: [{column}]" in problem.message


def test_a_reserved_name_in_an_explicit_mapping_is_a_problem() -> None:
    sync, _ = parse(users(attributes={"braze_id": "legacy_id", "plan": "plan"}))
    assert sync is not None

    _, problems = resolve_fields(sync, ["user_id", "legacy_id", "plan"], "warehouse")

    assert [p.key for p in problems] == ["attributes.braze_id"]
    assert "identifies the user" in problems[0].message


def test_the_identifying_kind_is_reserved_when_another_column_carries_its_name() -> None:
    sync, _ = parse(users(identifier={"email": "contact"}))
    assert sync is not None

    _, problems = resolve_fields(sync, ["contact", "email", "plan"], "warehouse")

    assert [p.key for p in problems] == ["attributes"]
    assert "`email` cannot be sent" in problems[0].message


def test_email_is_an_ordinary_attribute_when_the_user_is_identified_otherwise() -> None:
    result = resolved(users(), ["user_id", "email", "phone"])

    assert result.mapped == (("email", "email"), ("phone", "phone"))
