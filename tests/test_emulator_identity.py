"""The emulator's identity endpoints (/users/identify, /users/merge, /users/external_ids/rename
and /remove) and message triggers (/canvas/trigger/send, /campaigns/trigger/send), over HTTP,
as Braze documents them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_braze.emulator import Emulator, Faults

KEY = "identity-key"
CANVAS = "canvas-welcome"
CAMPAIGN = "campaign-receipt"
ALIAS = {"alias_name": "anon-7", "alias_label": "device"}


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, canvases=[CANVAS], campaigns=[CAMPAIGN]) as emu:
        yield emu


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    server.set_faults(Faults())
    server.reset()
    return server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        yield session


def post(http: requests.Session, emu: Emulator, path: str, body: Any) -> requests.Response:
    return http.post(f"{emu.url}{path}", json=body, timeout=5)


def track(http: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    response = post(http, emu, "/users/track", body)
    assert response.status_code == 201, response.text
    return response


def export(http: requests.Session, emu: Emulator, **body: Any) -> dict[str, Any]:
    response = post(http, emu, "/users/export/ids", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def played(ident: dict[str, Any], when: str) -> dict[str, Any]:
    return {**ident, "name": "played", "time": when}


def alias_only(http: requests.Session, emu: Emulator, **attributes: Any) -> None:
    track(
        http,
        emu,
        attributes=[{"user_alias": ALIAS, "_update_existing_only": False, **attributes}],
        events=[played({"user_alias": ALIAS}, "2024-01-01T00:00:00Z")],
    )


def identified(http: requests.Session, emu: Emulator, external_id: str, **attributes: Any) -> None:
    track(
        http,
        emu,
        attributes=[{"external_id": external_id, **attributes}],
        events=[played({"external_id": external_id}, "2024-03-01T00:00:00Z")],
    )


# /users/identify


def test_identify_gives_an_alias_only_user_the_external_id_no_one_has(
    emu: Emulator, http: requests.Session
) -> None:
    alias_only(http, emu, tier="gold")

    response = post(
        http,
        emu,
        "/users/identify",
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]},
    )

    assert response.status_code == 201
    assert response.json() == {"aliases_processed": 1, "message": "success"}
    [profile] = emu.profiles
    assert profile["external_id"] == "u1"
    assert profile["user_aliases"] == [ALIAS]
    assert profile["attributes"] == {"tier": "gold"}
    [user] = export(http, emu, external_ids=["u1"])["users"]
    assert user["custom_attributes"] == {"tier": "gold"}


def test_identify_merges_what_the_identified_user_lacks_by_default(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "u1", first_name="Ann", tier="gold")
    alias_only(
        http, emu, first_name="Bob", home_city="Lyon", city_tag="paris", email_subscribe="opted_in"
    )

    response = post(
        http,
        emu,
        "/users/identify",
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]},
    )

    assert response.json() == {"aliases_processed": 1, "message": "success"}
    [profile] = emu.profiles  # the alias-only profile is gone
    assert profile["external_id"] == "u1"
    assert profile["user_aliases"] == [ALIAS]
    # post_user_identify.md: fields found only on the anonymous user move; the identified
    # user's own values stay; subscription states are not on the list.
    assert profile["attributes"] == {
        "first_name": "Ann",
        "tier": "gold",
        "home_city": "Lyon",
        "city_tag": "paris",
    }
    [user] = export(http, emu, external_ids=["u1"])["users"]
    assert user["custom_events"] == [
        {
            "name": "played",
            "first": "2024-01-01T00:00:00Z",
            "last": "2024-03-01T00:00:00Z",
            "count": 2,
        }
    ]
    # The alias names the identified user from now on.
    track(http, emu, attributes=[{"user_alias": ALIAS, "plan": "pro"}])
    assert emu.user_attributes("u1")["plan"] == "pro"
    assert len(emu.profiles) == 1


def test_identify_with_merge_behavior_none_keeps_only_the_identified_users_data(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "u1", first_name="Ann")
    alias_only(http, emu, city_tag="paris")

    response = post(
        http,
        emu,
        "/users/identify",
        {
            "aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}],
            "merge_behavior": "none",
        },
    )

    assert response.status_code == 201
    [profile] = emu.profiles
    assert profile["attributes"] == {"first_name": "Ann"}
    assert profile["user_aliases"] == [ALIAS]
    [user] = export(http, emu, user_aliases=[ALIAS])["users"]
    assert user["external_id"] == "u1"
    assert user["custom_events"][0]["count"] == 1


def test_identify_leaves_users_apart_when_the_user_has_an_alias_with_that_label(
    emu: Emulator, http: requests.Session
) -> None:
    other = {"alias_name": "anon-1", "alias_label": ALIAS["alias_label"]}
    track(http, emu, attributes=[{"user_alias": other, "_update_existing_only": False}])
    post(
        http,
        emu,
        "/users/identify",
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": other}]},
    )
    alias_only(http, emu, city_tag="paris")

    response = post(
        http,
        emu,
        "/users/identify",
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]},
    )

    assert response.status_code == 201
    assert len(emu.profiles) == 2
    assert (
        emu.find_profile(alias=(ALIAS["alias_name"], ALIAS["alias_label"]))["external_id"] is None
    )


def test_identify_by_email_follows_prioritization(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[{"email": "ann@example.com", "tier": "gold"}])

    response = post(
        http,
        emu,
        "/users/identify",
        {
            "aliases_to_identify": [],
            "emails_to_identify": [
                {
                    "external_id": "u1",
                    "email": "ANN@example.com",
                    "prioritization": ["unidentified", "most_recently_updated"],
                }
            ],
        },
    )

    assert response.json() == {"aliases_processed": 0, "emails_processed": 1, "message": "success"}
    assert emu.user_attributes("u1") == {"email": "ann@example.com", "tier": "gold"}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {
                "aliases_to_identify": [
                    {"external_id": f"u{i}", "user_alias": ALIAS} for i in range(51)
                ]
            },
            "The max number of external_ids and aliases per request was exceeded",
        ),
        (
            {
                "aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}],
                "merge_behavior": "all",
            },
            "'merge_behavior' must be 'none' or 'merge'",
        ),
        ({}, "One of 'aliases_to_identify', 'emails_to_identify'"),
        (
            {
                "aliases_to_identify": [
                    {"external_id": "u1", "user_alias": ALIAS},
                    {"external_id": "u2", "user_alias": {"alias_name": "x"}},
                ]
            },
            "aliases_to_identify[1]",
        ),
        (
            {"emails_to_identify": [{"external_id": "u1", "email": "a@example.com"}]},
            "'prioritization' is required",
        ),
    ],
    ids=[
        "51-items",
        "merge-behavior",
        "no-list",
        "malformed-alias",
        "email-without-prioritization",
    ],
)
def test_identify_refuses_a_bad_request_whole(
    emu: Emulator, http: requests.Session, body: dict[str, Any], text: str
) -> None:
    alias_only(http, emu)

    response = post(http, emu, "/users/identify", body)

    assert response.status_code == 400
    assert text in response.json()["message"]
    assert emu.profiles[0]["external_id"] is None  # nothing applied


# /users/external_ids/rename and /remove


def test_a_renamed_user_answers_to_the_old_id_for_track_export_and_delete(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "old-1", first_name="Ann")

    response = post(
        http,
        emu,
        "/users/external_ids/rename",
        {"external_id_renames": [{"current_external_id": "old-1", "new_external_id": "new-1"}]},
    )

    assert response.status_code == 201
    assert response.json() == {"message": "success", "external_ids": ["new-1"], "rename_errors": []}
    assert emu.deprecated_external_ids == {"old-1": "new-1"}
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    assert state["deprecated_external_ids"] == {"old-1": "new-1"}
    # The deprecated id still finds the user: a write by it updates the renamed profile.
    track(http, emu, attributes=[{"external_id": "old-1", "tier": "gold"}])
    assert len(emu.profiles) == 1
    assert emu.user_attributes("new-1") == {"first_name": "Ann", "tier": "gold"}
    payload = export(http, emu, external_ids=["old-1"])
    [user] = payload["users"]
    assert user["external_id"] == "new-1"
    assert "invalid_user_ids" not in payload
    # post_external_ids_rename.md: a deprecated id sent to /users/delete deletes the user.
    deleted = post(http, emu, "/users/delete", {"external_ids": ["old-1"]})
    assert deleted.json()["deleted"] == 1
    assert emu.profiles == []
    assert emu.deprecated_external_ids == {}


def test_rename_refusals_are_listed_per_rename_and_the_others_applied(
    emu: Emulator, http: requests.Session
) -> None:
    for external_id in ("a", "b", "c"):
        identified(http, emu, external_id)
    post(
        http,
        emu,
        "/users/external_ids/rename",
        {"external_id_renames": [{"current_external_id": "c", "new_external_id": "c2"}]},
    )

    response = post(
        http,
        emu,
        "/users/external_ids/rename",
        {
            "external_id_renames": [
                {"current_external_id": "a", "new_external_id": "a2"},
                {"current_external_id": "b", "new_external_id": "a2"},  # new id in use now
                {"current_external_id": "b", "new_external_id": "c"},  # a deprecated id
                {"current_external_id": "nobody", "new_external_id": "n2"},
                {"current_external_id": "b", "new_external_id": "b"},
                {"current_external_id": "c", "new_external_id": "c3"},  # c is deprecated
                {"current_external_id": "b"},
            ]
        },
    )

    assert response.status_code == 201
    payload = response.json()
    assert payload["message"] == "success"
    assert payload["external_ids"] == ["a2"]
    assert [index for index, _ in payload["rename_errors"]] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(text, str) and text for _, text in payload["rename_errors"])
    assert emu.find_profile(external_id="b") is not None
    assert emu.deprecated_external_ids == {"a": "a2", "c": "c2"}


def test_remove_takes_deprecated_ids_only(emu: Emulator, http: requests.Session) -> None:
    identified(http, emu, "old-1")
    post(
        http,
        emu,
        "/users/external_ids/rename",
        {"external_id_renames": [{"current_external_id": "old-1", "new_external_id": "new-1"}]},
    )

    response = post(
        http, emu, "/users/external_ids/remove", {"external_ids": ["old-1", "new-1", "nobody"]}
    )

    assert response.status_code == 201
    payload = response.json()
    assert payload["message"] == "success"
    assert payload["removed_ids"] == ["old-1"]
    assert [index for index, _ in payload["removal_errors"]] == [1, 2]
    assert emu.deprecated_external_ids == {}
    assert export(http, emu, external_ids=["old-1"])["invalid_user_ids"] == ["old-1"]
    # The old id is free again: a write by it creates a new user.
    track(http, emu, attributes=[{"external_id": "old-1", "tier": "new"}])
    assert len(emu.profiles) == 2


@pytest.mark.parametrize(
    ("path", "field", "errors"),
    [
        ("/users/external_ids/rename", "external_id_renames", "rename_errors"),
        ("/users/external_ids/remove", "external_ids", "removal_errors"),
    ],
    ids=["rename", "remove"],
)
def test_rename_and_remove_take_1_to_50_items(
    emu: Emulator, http: requests.Session, path: str, field: str, errors: str
) -> None:
    def item(i: int) -> Any:
        if field == "external_ids":
            return f"old-{i}"
        return {"current_external_id": f"old-{i}", "new_external_id": f"new-{i}"}

    fifty = post(http, emu, path, {field: [item(i) for i in range(50)]})
    too_many = post(http, emu, path, {field: [item(i) for i in range(51)]})
    empty = post(http, emu, path, {field: []})

    assert fifty.status_code == 201
    assert len(fifty.json()[errors]) == 50  # none of those users exists
    assert too_many.status_code == 400
    assert too_many.json() == {"message": "The max number of ids per request was exceeded"}
    assert empty.status_code == 400


# /users/merge


def test_merge_moves_what_the_kept_user_lacks_and_removes_the_merged_one(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "keep", first_name="Ann")
    track(
        http,
        emu,
        attributes=[
            {
                "external_id": "gone",
                "first_name": "Old",
                "city_tag": "paris",
                "phone": "+14155550100",
            }
        ],
        events=[played({"external_id": "gone", "properties": {}}, "2023-12-01T00:00:00Z")],
        purchases=[
            {
                "external_id": "gone",
                "product_id": "sku-1",
                "currency": "USD",
                "price": 5,
                "time": "2024-02-01T00:00:00Z",
                "quantity": 2,
            }
        ],
    )

    response = post(
        http,
        emu,
        "/users/merge",
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"external_id": "gone"},
                    "identifier_to_keep": {"external_id": "keep"},
                }
            ]
        },
    )

    assert response.status_code == 202
    assert response.json() == {"message": "success"}
    assert emu.find_profile(external_id="gone") is None
    assert emu.user_attributes("keep") == {
        "first_name": "Ann",
        "city_tag": "paris",
        "phone": "+14155550100",
    }
    payload = export(http, emu, external_ids=["keep", "gone"])
    [user] = payload["users"]
    assert payload["invalid_user_ids"] == ["gone"]
    assert user["custom_events"] == [
        {
            "name": "played",
            "first": "2023-12-01T00:00:00Z",
            "last": "2024-03-01T00:00:00Z",
            "count": 2,
        }
    ]
    assert user["purchases"] == [
        {
            "name": "sku-1",
            "first": "2024-02-01T00:00:00Z",
            "last": "2024-02-01T00:00:00Z",
            "count": 2,
        }
    ]


def test_merge_finds_users_by_alias_and_by_email_with_prioritization(
    emu: Emulator, http: requests.Session
) -> None:
    alias_only(http, emu, tier="gold")
    track(http, emu, attributes=[{"email": "ann@example.com", "plan": "pro"}])
    identified(http, emu, "u1", email="ann@example.com")

    response = post(
        http,
        emu,
        "/users/merge",
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"user_alias": ALIAS},
                    "identifier_to_keep": {"external_id": "u1"},
                },
                {
                    "identifier_to_merge": {
                        "email": "ann@example.com",
                        "prioritization": ["unidentified", "most_recently_updated"],
                    },
                    "identifier_to_keep": {
                        "email": "ann@example.com",
                        "prioritization": ["identified"],
                    },
                },
            ]
        },
    )

    assert response.status_code == 202
    [profile] = emu.profiles
    assert profile["external_id"] == "u1"
    assert profile["attributes"] == {"email": "ann@example.com", "tier": "gold", "plan": "pro"}


def test_merge_does_nothing_when_prioritization_leaves_more_than_one_user(
    emu: Emulator, http: requests.Session
) -> None:
    # Two unidentified users with one email (alias-only profiles, as an SDK would leave them).
    for name in ("a", "b"):
        alias = {"alias_name": name, "alias_label": "device"}
        user = {"user_alias": alias, "_update_existing_only": False, "email": "ann@example.com"}
        track(http, emu, attributes=[user])
    identified(http, emu, "u1")

    response = post(
        http,
        emu,
        "/users/merge",
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {
                        "email": "ann@example.com",
                        "prioritization": ["unidentified"],
                    },
                    "identifier_to_keep": {"external_id": "u1"},
                }
            ]
        },
    )

    assert response.status_code == 202
    assert len(emu.profiles) == 3


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"merge_updates": {"identifier_to_merge": {}}},
            "'merge_updates' must be an array of objects",
        ),
        (
            {
                "merge_updates": [
                    {
                        "identifier_to_merge": {"external_id": "a"},
                        "identifier_to_keep": {"external_id": "b"},
                    }
                ]
                * 51
            },
            "a single request may not contain more than 50 merge updates",
        ),
        (
            {
                "merge_updates": [
                    {
                        "identifier_to_merge": {"external_id": "a"},
                        "identifier_to_keep": {"external_id": "b"},
                        "note": "x",
                    }
                ]
            },
            "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'",
        ),
        (
            {
                "merge_updates": [
                    {
                        "identifier_to_merge": {"braze_id": "a"},
                        "identifier_to_keep": {"external_id": "b"},
                    }
                ]
            },
            "identifiers must be objects with an 'external_id' property that is a string",
        ),
        (
            {
                "merge_updates": [
                    {
                        "identifier_to_merge": {"email": "a@example.com"},
                        "identifier_to_keep": {"external_id": "b"},
                    }
                ]
            },
            "'prioritization' is required",
        ),
    ],
    ids=["not-array", "51-updates", "extra-key", "braze-id", "email-without-prioritization"],
)
def test_merge_refuses_a_bad_request_whole(
    emu: Emulator, http: requests.Session, body: dict[str, Any], text: str
) -> None:
    identified(http, emu, "a", tier="gold")
    identified(http, emu, "b")

    response = post(http, emu, "/users/merge", body)

    assert response.status_code == 400
    assert response.json()["message"].startswith(text)
    assert emu.find_profile(external_id="a") is not None


# Rate limits of the identity endpoints


def test_identify_and_merge_share_the_delete_budget(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(delete_rate_limit=3, external_id_rate_limit=10, rate_limit=10))
    identify = {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]}
    merge = {
        "merge_updates": [
            {
                "identifier_to_merge": {"external_id": "x"},
                "identifier_to_keep": {"external_id": "y"},
            }
        ]
    }

    answers = [
        post(http, emu, "/users/delete", {"external_ids": ["nobody"]}),
        post(http, emu, "/users/identify", identify),
        post(http, emu, "/users/merge", merge),
        post(http, emu, "/users/identify", identify),
    ]

    assert [r.status_code for r in answers] == [201, 201, 202, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert answers[-1].headers["X-RateLimit-Limit"] == "3"
    assert "Retry-After" in answers[-1].headers
    # The other budgets are untouched.
    assert post(http, emu, "/users/external_ids/remove", {"external_ids": ["x"]}).status_code == 201
    assert (
        post(http, emu, "/users/track", {"attributes": [{"external_id": "u1"}]}).status_code == 201
    )


def test_rename_and_remove_share_their_own_budget(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(external_id_rate_limit=2, delete_rate_limit=10))
    rename = {"external_id_renames": [{"current_external_id": "a", "new_external_id": "b"}]}

    answers = [
        post(http, emu, "/users/external_ids/rename", rename),
        post(http, emu, "/users/external_ids/remove", {"external_ids": ["a"]}),
        post(http, emu, "/users/external_ids/rename", rename),
    ]

    assert [r.status_code for r in answers] == [201, 201, 429]
    assert answers[-1].headers["X-RateLimit-Limit"] == "2"
    assert post(http, emu, "/users/delete", {"external_ids": ["a"]}).status_code == 201


# /canvas/trigger/send and /campaigns/trigger/send


def test_a_canvas_trigger_reaches_existing_recipients_only_by_default(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "u1")

    response = post(
        http,
        emu,
        "/canvas/trigger/send",
        {
            "canvas_id": CANVAS,
            "context": {"product": "shoes", "price": 79.99},
            "recipients": [
                {"external_user_id": "u1", "context": {"price": 59.99}},
                {"external_user_id": "stranger"},
            ],
        },
    )

    assert response.status_code == 201
    payload = response.json()
    assert payload["message"] == "success"
    assert isinstance(payload["dispatch_id"], str) and payload["dispatch_id"]
    [sent] = emu.triggers
    assert sent["kind"] == "canvas"
    assert sent["id"] == CANVAS
    assert sent["recipient"] == {"external_user_id": "u1"}
    assert sent["properties"] == {"product": "shoes", "price": 59.99}
    assert sent["dispatch_id"] == payload["dispatch_id"]
    assert emu.find_profile(external_id="stranger") is None


def test_a_campaign_trigger_creates_a_recipient_when_told_to_and_applies_attributes_first(
    emu: Emulator, http: requests.Session
) -> None:
    identified(http, emu, "u1")
    points = emu.data_points

    response = post(
        http,
        emu,
        "/campaigns/trigger/send",
        {
            "campaign_id": CAMPAIGN,
            "trigger_properties": {"order": "A-1"},
            "recipients": [
                {"external_user_id": "u1", "attributes": {"tier": "gold"}},
                {
                    "external_user_id": "new-user",
                    "send_to_existing_only": False,
                    "attributes": {"first_name": "Nia", "tier": "silver"},
                    "trigger_properties": {"order": "A-2"},
                },
            ],
        },
    )

    assert response.status_code == 201
    assert emu.user_attributes("u1") == {"tier": "gold"}
    assert emu.user_attributes("new-user") == {"first_name": "Nia", "tier": "silver"}
    assert emu.data_points == points + 3  # as /users/track counts them
    assert [(t["kind"], t["recipient"], t["properties"]) for t in emu.triggers] == [
        ("campaign", {"external_user_id": "u1"}, {"order": "A-1"}),
        ("campaign", {"external_user_id": "new-user"}, {"order": "A-2"}),
    ]
    dispatch_ids = {t["dispatch_id"] for t in emu.triggers}
    assert dispatch_ids == {response.json()["dispatch_id"]}


def test_trigger_recipients_by_alias_email_and_braze_id_and_one_message_per_user(
    emu: Emulator, http: requests.Session
) -> None:
    alias_only(http, emu)
    identified(http, emu, "u1", email="ann@example.com")
    braze_id = emu.find_profile(external_id="u1")["braze_id"]

    response = post(
        http,
        emu,
        "/campaigns/trigger/send",
        {
            "campaign_id": CAMPAIGN,
            "recipients": [
                {"user_alias": ALIAS},
                {"email": "ann@example.com", "prioritization": ["identified"]},
                {"braze_id": braze_id},  # the same user again: deduplicated
                {"external_user_id": "u1"},
            ],
        },
    )

    assert response.status_code == 201
    assert [t["recipient"] for t in emu.triggers] == [
        {"user_alias": ALIAS},
        {"email": "ann@example.com"},
    ]
    assert emu.triggers[1]["braze_id"] == braze_id


def test_a_broadcast_is_recorded_once_for_its_audience(
    emu: Emulator, http: requests.Session
) -> None:
    audience = {
        "custom_attribute": {
            "custom_attribute_name": "tier",
            "comparison": "equals",
            "value": "gold",
        }
    }

    response = post(
        http,
        emu,
        "/canvas/trigger/send",
        {"canvas_id": CANVAS, "broadcast": True, "audience": audience},
    )

    assert response.status_code == 201
    [sent] = emu.triggers
    assert sent["recipient"] is None
    assert sent["audience"] == audience


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        (
            "/canvas/trigger/send",
            {"canvas_id": "nope", "recipients": [{"external_user_id": "u1"}]},
            "Invalid Canvas ID",
        ),
        (
            "/campaigns/trigger/send",
            {"campaign_id": "nope", "recipients": [{"external_user_id": "u1"}]},
            "Invalid Campaign ID",
        ),
        ("/canvas/trigger/send", {"canvas_id": CANVAS}, "No Recipients"),
        ("/canvas/trigger/send", {"canvas_id": CANVAS, "recipients": []}, "No Recipients"),
        (
            "/campaigns/trigger/send",
            {
                "campaign_id": CAMPAIGN,
                "recipients": [{"external_user_id": f"u{i}"} for i in range(51)],
            },
            "The max number of external_ids and aliases per request was exceeded",
        ),
        (
            "/canvas/trigger/send",
            {"canvas_id": CANVAS, "broadcast": True, "recipients": [{"external_user_id": "u1"}]},
            "'recipients' cannot be given with 'broadcast': true",
        ),
        (
            "/canvas/trigger/send",
            {
                "canvas_id": CANVAS,
                "recipients": [{"external_user_id": "u1", "send_to_existing_only": False}],
            },
            "needs an 'attributes' object",
        ),
        (
            "/canvas/trigger/send",
            {
                "canvas_id": CANVAS,
                "recipients": [{"user_alias": ALIAS, "send_to_existing_only": True}],
            },
            "can't be used with user aliases",
        ),
        (
            "/canvas/trigger/send",
            {"canvas_id": CANVAS, "recipients": [{"email": "a@example.com"}]},
            "'prioritization' is required",
        ),
        (
            "/canvas/trigger/send",
            {"canvas_id": CANVAS, "recipients": [{"external_user_id": "u1", "user_alias": ALIAS}]},
            "give exactly one of",
        ),
        (
            "/canvas/trigger/send",
            {
                "canvas_id": CANVAS,
                "trigger_properties": {},
                "recipients": [{"external_user_id": "u1"}],
            },
            "Unknown field(s) for this endpoint: trigger_properties",
        ),
        (
            "/canvas/trigger/send",
            {
                "canvas_id": CANVAS,
                "context": {"k": "x" * 52_000},
                "recipients": [{"external_user_id": "u1"}],
            },
            "'context' exceeds 51200 bytes",
        ),
        (
            "/campaigns/trigger/send",
            {
                "campaign_id": CAMPAIGN,
                "recipients": [{"external_user_id": "u1", "attributes": {"name": "x" * 300}}],
            },
            "recipients[0]: Value of 'name' exceeds 255 characters",
        ),
    ],
    ids=[
        "unknown-canvas",
        "unknown-campaign",
        "no-recipients",
        "empty-recipients",
        "51-recipients",
        "broadcast-with-recipients",
        "create-without-attributes",
        "alias-with-send-to-existing-only",
        "email-without-prioritization",
        "two-identifiers",
        "campaign-field-on-a-canvas",
        "context-over-50-kb",
        "invalid-attribute",
    ],
)
def test_a_trigger_braze_refuses_sends_nothing(
    emu: Emulator, http: requests.Session, path: str, body: dict[str, Any], text: str
) -> None:
    identified(http, emu, "u1")
    points = emu.data_points

    response = post(http, emu, path, body)

    assert response.status_code == 400
    assert text in response.json()["message"]
    assert emu.triggers == []
    assert emu.data_points == points


def test_triggers_have_their_own_budget(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(trigger_rate_limit=2, rate_limit=10))
    canvas = {"canvas_id": CANVAS, "recipients": [{"external_user_id": "u1"}]}
    campaign = {"campaign_id": CAMPAIGN, "recipients": [{"external_user_id": "u1"}]}

    answers = [
        post(http, emu, "/canvas/trigger/send", canvas),
        post(http, emu, "/campaigns/trigger/send", campaign),
        post(http, emu, "/canvas/trigger/send", canvas),
    ]

    assert [r.status_code for r in answers] == [201, 201, 429]
    assert answers[-1].headers["X-RateLimit-Limit"] == "2"
    assert (
        post(http, emu, "/users/track", {"attributes": [{"external_id": "u1"}]}).status_code == 201
    )


def test_reset_keeps_canvases_and_campaigns_and_forgets_triggers(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_canvas("canvas-extra")
    post(http, emu, "/canvas/trigger/send", {"canvas_id": "canvas-extra", "broadcast": True})
    assert len(requests.get(f"{emu.url}/_emulator/state", timeout=5).json()["triggers"]) == 1

    emu.reset()

    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    assert state["triggers"] == []
    assert state["canvases"] == sorted([CANVAS, "canvas-extra"])
    assert state["campaigns"] == [CAMPAIGN]
    response = post(
        http, emu, "/canvas/trigger/send", {"canvas_id": "canvas-extra", "broadcast": True}
    )
    assert response.status_code == 201


# `dbt-braze emulator --canvas ID --campaign ID`

DBT_BRAZE = os.path.join(os.path.dirname(sys.executable), "dbt-braze")


def test_the_emulator_command_knows_the_canvases_and_campaigns_it_is_given() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            DBT_BRAZE,
            "emulator",
            "--port",
            str(port),
            "--api-key",
            "k",
            "--canvas",
            "c1",
            "--canvas",
            "c2",
            "--campaign",
            "k1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Braze emulator listening on"), line
        state = requests.get(f"http://127.0.0.1:{port}/_emulator/state", timeout=5).json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)

    assert state["canvases"] == ["c1", "c2"]
    assert state["campaigns"] == ["k1"]
