"""The emulator's read-back and setup endpoints over real HTTP: /users/export/ids, the catalog
item reads (`GET /catalogs/{name}/items[/{id}]`) and catalog management (fields added or
deleted, catalogs deleted), each with its rate limit where Braze has one."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from dbt_braze.emulator import Emulator, Faults

KEY = "readback-key"
EXPORT = "/users/export/ids"


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, subscription_groups={"g-email", "g-sms"}) as emu:
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


def track(http: requests.Session, emu: Emulator, *attributes: dict[str, Any]) -> None:
    response = http.post(f"{emu.url}/users/track", json={"attributes": list(attributes)}, timeout=5)
    assert response.status_code == 201 and "errors" not in response.json(), response.text


def export(http: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    return http.post(f"{emu.url}{EXPORT}", json=body, timeout=5)


# ------------------------------------------------------------------------- /users/export/ids


def test_export_puts_standard_fields_on_top_custom_attributes_below_and_groups_as_braze_reads(
    emu: Emulator, http: requests.Session
) -> None:
    track(
        http,
        emu,
        {
            "external_id": "u1",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@example.com",
            "dob": "1990-04-01",
            "country": "NZ",
            "home_city": "Wellington",
            "language": "en",
            "gender": "F",
            "time_zone": "Pacific/Auckland",
            "email_subscribe": "opted_in",
            "push_subscribe": "unsubscribed",
            "plan": "gold",
            "visits": 3,
            "subscription_groups": [
                {"subscription_group_id": "g-email", "subscription_state": "subscribed"},
                {"subscription_group_id": "g-sms", "subscription_state": "unsubscribed"},
            ],
        },
    )

    response = export(http, emu, external_ids=["u1", "nobody"])

    assert response.status_code == 201  # as Braze answers (its page names no code)
    payload = response.json()
    assert list(payload) == ["users", "invalid_user_ids", "message"]
    assert (payload["invalid_user_ids"], payload["message"]) == (["nobody"], "success")
    (user,) = payload["users"]
    assert user["created_at"].endswith("Z") and len(user["braze_id"]) == 24
    del user["created_at"], user["braze_id"]
    assert user == {
        "external_id": "u1",
        "user_aliases": [],
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "dob": "1990-04-01",
        "country": "NZ",
        "home_city": "Wellington",
        "language": "en",
        "gender": "F",
        "time_zone": "Pacific/Auckland",
        "email_subscribe": "opted_in",
        "push_subscribe": "unsubscribed",
        "custom_attributes": {"plan": "gold", "visits": 3},
        "custom_events": [],
        "purchases": [],
        "subscription_groups": [
            {"subscription_group_id": "g-email", "subscription_status": "subscribed"},
            {"subscription_group_id": "g-sms", "subscription_status": "unsubscribed"},
        ],
    }


def test_every_identifier_found_leaves_invalid_user_ids_out(
    emu: Emulator, http: requests.Session
) -> None:
    track(http, emu, {"external_id": "u1"})

    payload = export(http, emu, external_ids=["u1"]).json()

    assert set(payload) == {"users", "message"}  # the page marks invalid_user_ids optional


def test_fields_to_export_narrows_each_user_to_the_fields_named(
    emu: Emulator, http: requests.Session
) -> None:
    track(
        http,
        emu,
        {"external_id": "u1", "first_name": "Ann", "email": "a@example.com", "plan": "gold"},
        {"external_id": "u2", "first_name": "Bo", "plan": "free"},
    )

    response = export(
        http,
        emu,
        external_ids=["u1", "u2"],
        fields_to_export=["external_id", "first_name", "custom_attributes"],
    )

    assert response.status_code == 201
    assert response.json()["users"] == [
        {"external_id": "u1", "first_name": "Ann", "custom_attributes": {"plan": "gold"}},
        {"external_id": "u2", "first_name": "Bo", "custom_attributes": {"plan": "free"}},
    ]


def test_an_unknown_field_to_export_is_a_400_naming_it(
    emu: Emulator, http: requests.Session
) -> None:
    track(http, emu, {"external_id": "u1"})

    response = export(
        http, emu, external_ids=["u1"], fields_to_export=["first_name", "favourite_colour"]
    )

    assert response.status_code == 400
    assert "'favourite_colour'" in response.json()["message"]
    assert "first_name" not in response.json()["message"].split(";")[0]


def test_export_finds_an_email_whatever_its_case_and_surrounding_blanks(
    emu: Emulator, http: requests.Session
) -> None:
    track(http, emu, {"external_id": "u1", "email": "Ann.Lee@Example.com"})

    found = export(http, emu, email_address="  ann.lee@EXAMPLE.com ").json()
    missing = export(http, emu, email_address="ann.lee@example.org").json()

    assert [u["external_id"] for u in found["users"]] == ["u1"]
    assert found["users"][0]["email"] == "Ann.Lee@Example.com"  # kept as written
    assert (missing["users"], missing["invalid_user_ids"]) == ([], ["ann.lee@example.org"])


@pytest.mark.parametrize("asked", ["+14155550100", "+1 (415) 555-0100", "415-555-0100"])
def test_export_finds_a_phone_number_in_any_of_its_formats_and_answers_it_in_e164(
    emu: Emulator, http: requests.Session, asked: str
) -> None:
    track(http, emu, {"external_id": "u1", "phone": "+1 (415) 555-0100"})

    payload = export(http, emu, phone=asked).json()

    assert [(u["external_id"], u["phone"]) for u in payload["users"]] == [("u1", "+14155550100")]
    other = export(http, emu, phone="+44 20 7183 8750").json()
    assert (other["users"], other["invalid_user_ids"]) == ([], ["+44 20 7183 8750"])


def test_export_by_alias_and_braze_id_and_unknown_ones_listed_as_invalid(
    emu: Emulator, http: requests.Session
) -> None:
    alias = {"alias_name": "a1", "alias_label": "crm"}
    track(
        http,
        emu,
        {"user_alias": alias, "_update_existing_only": False, "first_name": "Al"},
        {"external_id": "u2"},
    )
    (u2,) = [p for p in emu.profiles if p["external_id"] == "u2"]
    ghost = {"alias_name": "ghost", "alias_label": "crm"}

    payload = export(http, emu, user_aliases=[alias, ghost], braze_id=u2["braze_id"]).json()

    assert [u.get("first_name") for u in payload["users"]] == ["Al", None]
    assert payload["users"][0]["user_aliases"] == [alias]
    assert "external_id" not in payload["users"][0]  # an alias-only profile has none
    assert payload["invalid_user_ids"] == [ghost]


@pytest.mark.parametrize(
    "body",
    [
        {"external_ids": [f"u{i}" for i in range(51)]},
        {"user_aliases": [{"alias_name": f"a{i}", "alias_label": "l"} for i in range(51)]},
        {"email_address": "a@example.com", "phone": "+14155550100"},
        {"external_ids": "u1"},
        {"external_ids": ["u1"], "fields_to_export": "first_name"},
        {"fields_to_export": ["first_name"]},
        {"user_aliases": [{"alias_name": "a"}]},
    ],
    ids=[
        "51-external-ids",
        "51-aliases",
        "email-and-phone",
        "external-ids-not-array",
        "fields-not-array",
        "no-identifier",
        "alias-without-label",
    ],
)
def test_export_requests_outside_the_page_are_400(
    emu: Emulator, http: requests.Session, body: dict[str, Any]
) -> None:
    response = export(http, emu, **body)

    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_export_of_50_external_ids_is_accepted(emu: Emulator, http: requests.Session) -> None:
    response = export(http, emu, external_ids=[f"u{i}" for i in range(50)])

    assert response.status_code == 201
    assert len(response.json()["invalid_user_ids"]) == 50


def test_export_has_its_own_rate_limit_with_braze_headers(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(export_rate_limit=3, rate_limit=100))
    track(http, emu, {"external_id": "u1"})

    answers = [export(http, emu, external_ids=["u1"]) for _ in range(4)]
    track(http, emu, {"external_id": "u2"})  # /users/track's budget is another one

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[3]
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60  # a window of 60 seconds
    assert limited.headers["X-Ratelimit-Retry-After"] == limited.headers["Retry-After"]
    assert "per 60 seconds" in limited.json()["message"]


def test_export_is_unlimited_unless_a_limit_is_set(emu: Emulator, http: requests.Session) -> None:
    answers = [export(http, emu, external_ids=["u1"]) for _ in range(20)]

    assert Faults().export_rate_limit is None
    assert {a.status_code for a in answers} == {201}
    assert "X-RateLimit-Limit" not in answers[-1].headers


# ------------------------------------------------------------------------------ catalog reads


def items_url(emu: Emulator, catalog: str) -> str:
    return f"{emu.url}/catalogs/{catalog}/items"


def add_items(http: requests.Session, emu: Emulator, catalog: str, ids: list[str]) -> None:
    for start in range(0, len(ids), 50):
        batch = [{"id": i, "rank": n} for n, i in enumerate(ids[start : start + 50], start)]
        response = http.post(items_url(emu, catalog), json={"items": batch}, timeout=5)
        assert response.status_code == 202, response.text


def test_items_are_read_50_a_page_oldest_first_following_the_link_header(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("paged", {"rank": "number"})
    ids = [f"item-{n:03d}" for n in range(120)]
    add_items(http, emu, "paged", ids)

    pages: list[requests.Response] = []
    url: str | None = items_url(emu, "paged")
    while url is not None:
        page = http.get(url, timeout=5)
        assert page.status_code == 200, page.text
        pages.append(page)
        following = page.links.get("next")
        url = urljoin(emu.url, following["url"]) if following else None

    read = [item for page in pages for item in page.json()["items"]]
    assert [item["id"] for item in read] == ids
    assert read[7] == {"id": "item-007", "rank": 7}
    assert [len(p.json()["items"]) for p in pages] == [50, 50, 20]
    assert {p.json()["message"] for p in pages} == {"success"}
    # As the page's example writes it: a path, rel="prev" before rel="next", no prev on the
    # first page and no next on the last.
    assert [sorted(p.links) for p in pages] == [["next"], ["next", "prev"], ["prev"]]
    assert pages[1].headers["Link"] == (
        f'</catalogs/paged/items?cursor={_cursor(0)}>; rel="prev",'
        f'</catalogs/paged/items?cursor={_cursor(100)}>; rel="next"'
    )
    assert _cursor(0) == "c2tpcDow"  # the page's example cursor


def _cursor(skip: int) -> str:
    return base64.b64encode(f"skip:{skip}".encode()).decode()


def test_a_replaced_item_keeps_its_place_and_a_recreated_one_moves_last(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("order", {"rank": "number"})
    add_items(http, emu, "order", ["a", "b", "c"])
    http.put(items_url(emu, "order"), json={"items": [{"id": "a", "rank": 9}]}, timeout=5)
    http.delete(items_url(emu, "order"), json={"items": [{"id": "b"}]}, timeout=5)
    http.post(items_url(emu, "order"), json={"items": [{"id": "b"}]}, timeout=5)

    page = http.get(items_url(emu, "order"), timeout=5)

    assert page.json()["items"] == [{"id": "a", "rank": 9}, {"id": "c", "rank": 2}, {"id": "b"}]


def test_50_items_or_fewer_come_without_a_link_header(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("fifty", {"rank": "number"})
    add_items(http, emu, "fifty", [f"i{n}" for n in range(50)])

    page = http.get(items_url(emu, "fifty"), timeout=5)

    assert len(page.json()["items"]) == 50
    assert "Link" not in page.headers


def test_a_bad_cursor_is_a_400_and_an_unknown_catalog_a_404(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("cursed", {})

    bad = http.get(items_url(emu, "cursed"), params={"cursor": "bad-cursor"}, timeout=5)
    unknown = http.get(items_url(emu, "nowhere"), timeout=5)

    assert bad.status_code == 400
    assert bad.json() == {
        "errors": [
            {
                "id": "invalid-cursor",
                "message": "'cursor' is not valid",
                "parameters": ["cursor"],
                "parameter_values": ["bad-cursor"],
            }
        ],
        "message": "Invalid Request",
    }
    assert unknown.status_code == 404
    (error,) = unknown.json()["errors"]
    assert (error["id"], error["parameter_values"]) == ("catalog-not-found", ["nowhere"])


def test_one_item_is_read_by_its_id_and_a_missing_one_is_item_not_found(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("single", {"title": "string", "tags": "array"})
    item = {"id": "s1", "title": "One", "tags": ["a", "b"]}
    http.post(items_url(emu, "single"), json={"items": [item]}, timeout=5)

    found = http.get(f"{items_url(emu, 'single')}/s1", timeout=5)
    missing = http.get(f"{items_url(emu, 'single')}/s2", timeout=5)
    write = http.patch(f"{items_url(emu, 'single')}/s1", json={"items": [item]}, timeout=5)

    assert found.status_code == 200
    assert found.json() == {"items": [item], "message": "success"}
    assert missing.status_code == 404
    assert missing.json()["errors"] == [
        {
            "id": "item-not-found",
            "message": "Could not find item",
            "parameters": ["item_id"],
            "parameter_values": ["s2"],
        }
    ]
    assert write.status_code == 405  # the emulator serves reads only on a single item


def test_catalog_item_reads_share_one_rate_limit_and_writes_are_not_counted(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("limited", {"rank": "number"})
    emu.set_faults(Faults(catalog_read_rate_limit=3))
    add_items(http, emu, "limited", ["a"])

    reads = [
        http.get(items_url(emu, "limited"), timeout=5),
        http.get(f"{items_url(emu, 'limited')}/a", timeout=5),
        http.get(f"{items_url(emu, 'nowhere')}/a", timeout=5),  # counted, then refused
        http.get(f"{items_url(emu, 'limited')}/a", timeout=5),
        http.get(items_url(emu, "limited"), timeout=5),
    ]
    listed = http.get(f"{emu.url}/catalogs", timeout=5)
    add_items(http, emu, "limited", ["b"])

    assert [r.status_code for r in reads] == [200, 200, 404, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in reads] == ["2", "1", "0", "0", "0"]
    limited = reads[3]
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert listed.status_code == 200 and "X-RateLimit-Limit" not in listed.headers
    assert Faults().catalog_read_rate_limit is None


# ----------------------------------------------------------------------- catalog management


def test_fields_added_to_a_catalog_are_listed_and_take_values(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("grow", {"title": "string"})
    http.post(items_url(emu, "grow"), json={"items": [{"id": "g1", "title": "G"}]}, timeout=5)

    added = http.post(
        f"{emu.url}/catalogs/grow/fields",
        json={
            "fields": [{"name": "price", "type": "number"}, {"name": "on_sale", "type": "boolean"}]
        },
        timeout=5,
    )
    edited = http.patch(
        items_url(emu, "grow"), json={"items": [{"id": "g1", "price": 2.5}]}, timeout=5
    )
    listed = http.get(f"{emu.url}/catalogs", timeout=5).json()["catalogs"]

    assert (added.status_code, added.json()) == (202, {"message": "success"})
    assert edited.status_code == 202
    (grow,) = [c for c in listed if c["name"] == "grow"]
    assert [f["name"] for f in grow["fields"]] == ["id", "title", "price", "on_sale"]
    assert emu.catalog_items("grow") == {"g1": {"title": "G", "price": 2.5}}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([{"name": "title", "type": "string"}], "field-names-not-unique"),
        (
            [{"name": "a", "type": "number"}, {"name": "a", "type": "number"}],
            "field-names-not-unique",
        ),
        ([{"name": "colour", "type": "colour"}], "invalid-field-types"),
        ([{"name": "bad name", "type": "string"}], "invalid-field-names"),
        ([{"name": "x" * 251, "type": "string"}], "field-names-too-large"),
        (
            [{"name": f"f{n}", "type": "string"} for n in range(51)],
            "request-includes-too-many-fields",
        ),
        ("title", "invalid-fields"),
        ([], "invalid-fields"),
    ],
)
def test_fields_braze_would_refuse_are_a_400_and_none_is_added(
    emu: Emulator, http: requests.Session, fields: Any, error: str
) -> None:
    emu.create_catalog("strict", {"title": "string"})

    response = http.post(f"{emu.url}/catalogs/strict/fields", json={"fields": fields}, timeout=5)

    assert response.status_code == 400
    assert [e["id"] for e in response.json()["errors"]] == [error]
    listed = http.get(f"{emu.url}/catalogs", timeout=5).json()["catalogs"]
    (strict,) = [c for c in listed if c["name"] == "strict"]
    assert [f["name"] for f in strict["fields"]] == ["id", "title"]


def test_a_catalog_holds_at_most_500_fields(emu: Emulator, http: requests.Session) -> None:
    emu.create_catalog("wide", {f"f{n}": "string" for n in range(480)})

    response = http.post(
        f"{emu.url}/catalogs/wide/fields",
        json={"fields": [{"name": f"g{n}", "type": "string"} for n in range(20)]},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["id"] == "catalog-exceeds-fields-limit"


def test_a_deleted_field_takes_its_values_with_it(emu: Emulator, http: requests.Session) -> None:
    emu.create_catalog("shrink", {"title": "string", "price": "number"})
    item = {"id": "s1", "title": "S", "price": 3}
    http.post(items_url(emu, "shrink"), json={"items": [item]}, timeout=5)

    deleted = requests.delete(
        f"{emu.url}/catalogs/shrink/fields/price",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    refused = http.patch(
        items_url(emu, "shrink"), json={"items": [{"id": "s1", "price": 4}]}, timeout=5
    )
    unknown = http.delete(f"{emu.url}/catalogs/shrink/fields/colour", timeout=5)
    the_id = http.delete(f"{emu.url}/catalogs/shrink/fields/id", timeout=5)
    no_catalog = http.delete(f"{emu.url}/catalogs/nowhere/fields/price", timeout=5)

    assert (deleted.status_code, deleted.json()) == (202, {"message": "success"})
    assert emu.catalog_items("shrink") == {"s1": {"title": "S"}}
    assert refused.json()["errors"][0]["id"] == "invalid-fields"
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["id"] == "invalid-field-name"
    assert the_id.status_code == 400
    assert no_catalog.status_code == 404
    assert no_catalog.json()["errors"][0]["id"] == "catalog-not-found"


def test_a_deleted_catalog_is_gone_and_its_name_free_again(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("mistake", {"rank": "number"})
    add_items(http, emu, "mistake", ["m1"])

    # As Braze's example sends it: no body (requests sends no Content-Type either).
    deleted = requests.delete(
        f"{emu.url}/catalogs/mistake", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    again = http.delete(f"{emu.url}/catalogs/mistake", timeout=5)
    items_after = http.get(items_url(emu, "mistake"), timeout=5)
    fields = [{"name": "id", "type": "string"}, {"name": "price", "type": "number"}]
    remade = http.post(
        f"{emu.url}/catalogs", json={"catalogs": [{"name": "mistake", "fields": fields}]}, timeout=5
    )

    assert (deleted.status_code, deleted.json()) == (200, {"message": "success"})
    assert again.status_code == 404
    assert again.json()["errors"][0] == {
        "id": "catalog-not-found",
        "message": "Could not find catalog",
        "parameters": ["catalog_name"],
        "parameter_values": ["mistake"],
    }
    assert items_after.status_code == 404
    assert remade.status_code == 201
    assert emu.catalog_items("mistake") == {}


def test_catalog_management_needs_the_key(emu: Emulator) -> None:
    emu.create_catalog("guarded", {})

    answers = [
        requests.delete(f"{emu.url}/catalogs/guarded", timeout=5),
        requests.post(f"{emu.url}/catalogs/guarded/fields", json={"fields": []}, timeout=5),
        requests.get(f"{emu.url}/catalogs/guarded/items", timeout=5),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert "guarded" in emu.state()["catalogs"]


def test_reset_keeps_the_catalogs_as_changed_over_http_and_forgets_their_items(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("kept", {"rank": "number"})
    emu.create_catalog("dropped", {})
    http.post(
        f"{emu.url}/catalogs/kept/fields",
        json={"fields": [{"name": "n", "type": "number"}]},
        timeout=5,
    )
    http.delete(f"{emu.url}/catalogs/dropped", timeout=5)
    add_items(http, emu, "kept", ["k1"])

    emu.reset()
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()

    assert state["catalogs"]["kept"] == {
        "fields": {"id": "string", "rank": "number", "n": "number"},
        "items": {},
    }
    assert "dropped" not in state["catalogs"]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            {"name": "twice", "fields": [{"name": "id", "type": "string"}]},
            "catalog-name-already-exists",
        ),
        ({"name": "no id", "fields": [{"name": "id", "type": "string"}]}, "invalid-catalog-name"),
        ({"name": "late_id", "fields": [{"name": "t", "type": "string"}]}, "id-not-first-column"),
        (
            {
                "name": "odd",
                "fields": [{"name": "id", "type": "string"}, {"name": "t", "type": "x"}],
            },
            "invalid-field-types",
        ),
    ],
)
def test_a_catalog_braze_would_refuse_is_a_400_with_its_error_id(
    emu: Emulator, http: requests.Session, spec: dict[str, Any], error: str
) -> None:
    emu.create_catalog("twice", {})

    response = http.post(f"{emu.url}/catalogs", json={"catalogs": [spec]}, timeout=5)

    assert response.status_code == 400
    assert [e["id"] for e in response.json()["errors"]] == [error]
    assert set(emu.state()["catalogs"]) & {"no id", "late_id", "odd"} == set()
