from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_braze.emulator import Emulator, Faults, serve

KEY = "test-key"


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, port=0) as emu:
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


def track(http: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    return http.post(f"{emu.url}/users/track", json=body, timeout=5)


def attr(external_id: str, **values: Any) -> dict[str, Any]:
    return {"external_id": external_id, **values}


def event(external_id: str, **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "name": "played", "time": "2024-05-01T10:00:00Z", **extra}


def purchase(external_id: str, **extra: Any) -> dict[str, Any]:
    base = {
        "external_id": external_id,
        "product_id": "sku-1",
        "currency": "USD",
        "price": 9.99,
        "time": "2024-05-01T10:00:00Z",
    }
    return {**base, **extra}


# Import cost


def test_import_loads_no_server_or_json_machinery() -> None:
    code = (
        "import sys; before = set(sys.modules); import dbt_braze.emulator; "
        "heavy = {'http.server', 'json', 'socket', 'threading', 'typing', 'socketserver'}; "
        "print(sorted((set(sys.modules) - before) & heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Envelope: auth, media type, size, paths


def test_missing_key_is_401(emu: Emulator) -> None:
    response = requests.post(f"{emu.url}/users/track", json={"attributes": [attr("u1")]}, timeout=5)
    assert response.status_code == 401
    assert response.json()["message"].startswith("Invalid API key")
    assert emu.profiles == []


def test_wrong_key_is_401_without_echoing_the_key(emu: Emulator) -> None:
    response = requests.post(
        f"{emu.url}/users/track",
        json={"attributes": [attr("u1")]},
        headers={"Authorization": "Bearer s3cret-wrong-key"},
        timeout=5,
    )
    assert response.status_code == 401
    assert "s3cret-wrong-key" not in response.text
    assert emu.profiles == []
    assert [(r.path, r.status) for r in emu.requests] == [("/users/track", 401)]


def test_wrong_content_type_is_415(emu: Emulator, http: requests.Session) -> None:
    body = json.dumps({"attributes": [attr("u1")]})
    response = http.post(
        f"{emu.url}/users/track", data=body, headers={"Content-Type": "text/plain"}, timeout=5
    )
    assert response.status_code == 415
    ok = http.post(
        f"{emu.url}/users/track",
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    assert ok.status_code == 201


def test_body_over_4_mb_is_413_and_connection_stays_usable(
    emu: Emulator, http: requests.Session
) -> None:
    big = {"attributes": [attr("u1", blob="x" * (4 * 1024 * 1024))]}
    response = track(http, emu, **big)
    assert response.status_code == 413
    assert emu.profiles == []
    assert track(http, emu, attributes=[attr("u2")]).status_code == 201


def test_76_objects_is_400_and_75_is_accepted(emu: Emulator, http: requests.Session) -> None:
    too_many = track(
        http, emu, attributes=[attr(f"a{i}") for i in range(40)], events=[event("e")] * 36
    )
    assert too_many.status_code == 400
    assert too_many.json() == {"message": "Max Input Length Exceeded"}
    assert emu.profiles == []
    ok = track(http, emu, attributes=[attr(f"a{i}") for i in range(40)], events=[event("e")] * 35)
    assert ok.status_code == 201
    assert ok.json()["events_processed"] == 35


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"attributes": [{"external_id": "u1", "x": NaN}]}', b"{}", b"[]"],
)
def test_unparseable_or_empty_body_is_400(
    emu: Emulator, http: requests.Session, raw: bytes
) -> None:
    response = http.post(
        f"{emu.url}/users/track",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "message" in response.json()
    assert emu.profiles == []


def test_trailing_slash_403_unknown_path_404_wrong_method_405(
    emu: Emulator, http: requests.Session
) -> None:
    body = {"attributes": [attr("u1")]}
    assert http.post(f"{emu.url}/users/track/", json=body, timeout=5).status_code == 403
    assert http.post(f"{emu.url}/users/trak", json=body, timeout=5).status_code == 404
    assert http.get(f"{emu.url}/users/track", timeout=5).status_code == 405
    assert emu.profiles == []


# Per-object validation


def test_invalid_object_is_reported_by_array_and_index_others_stored(
    emu: Emulator, http: requests.Session
) -> None:
    response = track(
        http,
        emu,
        attributes=[attr("u1", city="Oslo"), attr("u2", bio="x" * 300), attr("u3", city="Rome")],
        events=[event("u1"), event("u1", time=None)],
    )
    assert response.status_code == 201
    payload = response.json()
    assert payload["message"] == "success"
    assert payload["attributes_processed"] == 2
    assert payload["events_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in payload["errors"]] == [
        ("attributes", 1),
        ("events", 1),
    ]
    assert emu.user_attributes(external_id="u1") == {"city": "Oslo"}
    assert emu.user_attributes(external_id="u3") == {"city": "Rome"}
    assert emu.user_attributes(external_id="u2") is None


def test_success_without_errors_has_no_errors_key(emu: Emulator, http: requests.Session) -> None:
    payload = track(http, emu, attributes=[attr("u1", a=1)]).json()
    assert payload == {
        "message": "success",
        "attributes_processed": 1,
        "events_processed": 0,
        "purchases_processed": 0,
    }


def test_null_unsets_an_attribute(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1", plan="gold", city="Oslo")])
    track(http, emu, attributes=[attr("u1", plan=None)])
    assert emu.user_attributes(external_id="u1") == {"city": "Oslo"}


def test_external_id_upserts_unless_update_existing_only(
    emu: Emulator, http: requests.Session
) -> None:
    created = track(http, emu, attributes=[attr("new", a=1)])
    assert created.json()["attributes_processed"] == 1
    skipped = track(http, emu, attributes=[attr("ghost", a=1, _update_existing_only=True)])
    assert skipped.status_code == 201
    assert skipped.json()["attributes_processed"] == 0
    assert "errors" not in skipped.json()  # Braze does not call it an error: nothing happens
    assert emu.find_profile(external_id="ghost") is None
    updated = track(http, emu, attributes=[attr("new", a=2, _update_existing_only=True)])
    assert updated.json()["attributes_processed"] == 1
    assert emu.user_attributes(external_id="new") == {"a": 2}


def test_alias_only_profile_needs_update_existing_only_false(
    emu: Emulator, http: requests.Session
) -> None:
    alias = {"alias_name": "device-9", "alias_label": "device"}
    default = track(http, emu, attributes=[{"user_alias": alias, "tier": 1}])
    assert default.json()["attributes_processed"] == 0
    assert "errors" not in default.json()
    assert emu.profiles == []
    created = track(
        http, emu, attributes=[{"user_alias": alias, "tier": 1, "_update_existing_only": False}]
    )
    assert created.json()["attributes_processed"] == 1
    track(http, emu, attributes=[{"user_alias": alias, "tier": 2}])
    profile = emu.find_profile(alias=("device-9", "device"))
    assert profile is not None
    assert profile["external_id"] is None
    assert profile["user_aliases"] == [alias]
    assert profile["attributes"] == {"tier": 2}


def test_braze_id_updates_but_never_creates(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1")])
    braze_id = emu.find_profile(external_id="u1")["braze_id"]  # type: ignore[index]
    response = track(
        http, emu, attributes=[{"braze_id": braze_id, "x": 1}, {"braze_id": "000000000000", "x": 2}]
    )
    assert response.json()["attributes_processed"] == 1
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert emu.user_attributes(external_id="u1") == {"x": 1}
    assert len(emu.profiles) == 1


def test_email_identifies_or_creates_a_profile(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1", email="ann@example.com")])
    track(http, emu, attributes=[{"email": "ann@example.com", "city": "Oslo"}])
    assert emu.user_attributes(external_id="u1") == {"email": "ann@example.com", "city": "Oslo"}
    track(http, emu, attributes=[{"email": "bob@example.com", "city": "Rome"}])
    bob = emu.find_profile(email="bob@example.com")
    assert bob is not None and bob["external_id"] is None
    assert bob["attributes"] == {"email": "bob@example.com", "city": "Rome"}


@pytest.mark.parametrize(
    "obj",
    [
        {"external_id": "u1", "braze_id": "b1", "a": 1},
        {"external_id": "u1", "user_alias": {"alias_name": "n", "alias_label": "l"}},
        {"a": 1},
        {"external_id": "é" * 494, "a": 1},
        {"external_id": "u1", "tags": list(range(501))},
        {"external_id": "u1", "profile": {"bad.key": 1}},
        {"external_id": "u1", "_update_existing_only": "yes"},
    ],
    ids=["two-primaries", "id-and-alias", "no-id", "id-988-bytes", "array-501", "dot-key", "flag"],
)
def test_invalid_attribute_objects(emu: Emulator, http: requests.Session, obj: dict) -> None:
    payload = track(http, emu, attributes=[attr("ok"), obj]).json()
    assert payload["attributes_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in payload["errors"]] == [("attributes", 1)]
    assert isinstance(payload["errors"][0]["type"], str)
    assert [p["external_id"] for p in emu.profiles] == ["ok"]


def test_external_id_of_987_bytes_is_accepted(emu: Emulator, http: requests.Session) -> None:
    long_id = "é" * 493 + "x"
    assert "errors" not in track(http, emu, attributes=[attr(long_id)]).json()
    assert emu.find_profile(external_id=long_id) is not None


@pytest.mark.parametrize(
    "bad",
    [
        {"time": None},
        {"time": "yesterday"},
        {"name": None},
        {"properties": {"time": "x"}},
        {"properties": {"event_name": "x"}},
        {"properties": {"$plan": "x"}},
        {"properties": {"note": "x" * 256}},
    ],
    ids=["no-time", "bad-time", "no-name", "time-prop", "event_name-prop", "dollar-prop", "long"],
)
def test_event_validation(emu: Emulator, http: requests.Session, bad: dict) -> None:
    invalid = {k: v for k, v in {**event("u1"), **bad}.items() if v is not None}
    payload = track(http, emu, events=[event("u1"), invalid]).json()
    assert payload["events_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in payload["errors"]] == [("events", 1)]
    assert emu.events == [event("u1")]


@pytest.mark.parametrize(
    "bad",
    [
        {"currency": "usd"},
        {"currency": "US"},
        {"quantity": 0},
        {"quantity": 101},
        {"quantity": 1.5},
        {"price": "9.99"},
        {"time": None},
        {"properties": {"price": 1}},
        {"properties": {"product_id": "x"}},
    ],
    ids=["lower", "short", "q0", "q101", "qfloat", "price-str", "no-time", "price", "product_id"],
)
def test_purchase_validation(emu: Emulator, http: requests.Session, bad: dict) -> None:
    invalid = {k: v for k, v in {**purchase("u1"), **bad}.items() if v is not None}
    payload = track(http, emu, purchases=[invalid, purchase("u1", quantity=100)]).json()
    assert payload["purchases_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in payload["errors"]] == [("purchases", 0)]
    assert emu.purchases == [purchase("u1", quantity=100)]


def test_attributes_are_processed_before_events(emu: Emulator, http: requests.Session) -> None:
    # The event is update-only; it succeeds only because the attributes object of the
    # same request created the profile first.
    payload = track(
        http,
        emu,
        events=[event("u1", _update_existing_only=True)],
        attributes=[attr("u1", a=1)],
    ).json()
    assert payload["events_processed"] == 1
    assert "errors" not in payload


def test_inc_add_remove_and_nested_merge(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1", n=5, tags=["a", "b"], pet={"kind": "cat", "age": 3})])
    track(
        http,
        emu,
        attributes=[
            attr(
                "u1",
                n={"inc": 2},
                tags={"add": ["c"], "remove": ["a"]},
                pet={"age": 4},
                _merge_objects=True,
            )
        ],
    )
    assert emu.user_attributes(external_id="u1") == {
        "n": 7,
        "tags": ["b", "c"],
        "pet": {"kind": "cat", "age": 4},
    }
    track(http, emu, attributes=[attr("u1", pet={"age": 5})])
    assert emu.user_attributes(external_id="u1")["pet"] == {"age": 5}  # type: ignore[index]


def test_invalid_nested_value_drops_all_nested_updates_of_the_request(
    emu: Emulator, http: requests.Session
) -> None:
    payload = track(
        http,
        emu,
        attributes=[
            attr("u1", pet={"kind": "cat"}, city="Oslo"),
            attr("u2", pet={"born": {"$time": "not a date"}}),
        ],
    ).json()
    assert [e["index"] for e in payload["errors"]] == [1]
    assert emu.user_attributes(external_id="u1") == {"city": "Oslo"}


def test_data_points(emu: Emulator, http: requests.Session) -> None:
    track(
        http,
        emu,
        attributes=[attr("u1", a=1, b=None, pet={"kind": "cat", "vet": {"name": "Ana"}})],
        events=[event("u1")],
        purchases=[purchase("u1", quantity=3)],
    )
    # a, b (null still costs one), the leaves pet.kind and pet.vet.name; 1 event; quantity 3.
    assert emu.data_points == 2 + 2 + 1 + 3
    track(http, emu, attributes=[attr("u1", a=1)])
    assert emu.data_points == 9  # an unchanged value is billed again
    track(http, emu, attributes=[attr("u1", a="x" * 256)])
    assert emu.data_points == 9  # a refused object costs nothing


# /users/delete and /users/export/ids


def test_delete_removes_profiles_and_refuses_51_ids(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1"), attr("u2"), attr("u3")])
    response = http.post(
        f"{emu.url}/users/delete", json={"external_ids": ["u1", "u2", "nobody"]}, timeout=5
    )
    assert response.status_code == 201
    assert response.json() == {"deleted": 2, "message": "success"}
    assert [p["external_id"] for p in emu.profiles] == ["u3"]
    assert {"external_id": "u1"} in emu.deleted
    too_many = http.post(
        f"{emu.url}/users/delete", json={"external_ids": [f"x{i}" for i in range(51)]}, timeout=5
    )
    assert too_many.status_code == 400
    two_lists = http.post(
        f"{emu.url}/users/delete", json={"external_ids": ["u3"], "braze_ids": ["b"]}, timeout=5
    )
    assert two_lists.status_code == 400
    assert [p["external_id"] for p in emu.profiles] == ["u3"]


def test_track_finds_a_profile_by_email_in_any_case_and_by_phone_in_any_format(
    emu: Emulator, http: requests.Session
) -> None:
    track(http, emu, attributes=[attr("u1", email="Ann@Example.com", phone="+1 (415) 555-0100")])

    by_email = track(http, emu, attributes=[{"email": " ann@EXAMPLE.com", "a": 1}])
    by_phone = track(http, emu, attributes=[{"phone": "+14155550100", "b": 2}])
    local_phone_event = {"phone": "415 555 0100", "name": "played", "time": "2024-05-01T10:00:00Z"}
    by_local_phone = track(http, emu, events=[local_phone_event])

    assert [r.status_code for r in (by_email, by_phone, by_local_phone)] == [201] * 3
    assert [p["external_id"] for p in emu.profiles] == ["u1"]  # no profile was created
    assert emu.user_attributes("u1") == {
        "email": "Ann@Example.com",
        "phone": "+1 (415) 555-0100",
        "a": 1,
        "b": 2,
    }
    assert emu.events == [local_phone_event]
    assert emu.find_profile(phone="+14155550100") == emu.find_profile(email="ANN@example.com")
    assert emu.find_profile(phone="+14155550199") is None


def test_delete_by_email_or_phone_matches_any_case_or_format(
    emu: Emulator, http: requests.Session
) -> None:
    track(
        http,
        emu,
        attributes=[
            attr("u1", email="Ann@Example.com"),
            attr("u2", phone="+44 20 7183 8750"),
            attr("u3", email="other@example.com", phone="+442071838751"),
        ],
    )

    by_email = http.post(
        f"{emu.url}/users/delete", json={"email_addresses": ["ann@example.COM "]}, timeout=5
    )
    by_phone = http.post(
        f"{emu.url}/users/delete", json={"phone_numbers": ["+442071838750"]}, timeout=5
    )

    assert [r.json()["deleted"] for r in (by_email, by_phone)] == [1, 1]
    assert [p["external_id"] for p in emu.profiles] == ["u3"]


def test_delete_needs_the_api_key(emu: Emulator) -> None:
    response = requests.post(f"{emu.url}/users/delete", json={"external_ids": ["u1"]}, timeout=5)
    assert response.status_code == 401


def test_export_ids(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1", first_name="Ann", plan="gold")], events=[event("u1")])
    response = http.post(
        f"{emu.url}/users/export/ids", json={"external_ids": ["u1", "nobody"]}, timeout=5
    )
    assert response.status_code == 201
    payload = response.json()
    assert payload["invalid_user_ids"] == ["nobody"]
    [user] = payload["users"]
    assert user["external_id"] == "u1"
    assert user["first_name"] == "Ann"
    assert user["custom_attributes"] == {"plan": "gold"}
    assert user["custom_events"][0]["count"] == 1


# Faults


@pytest.mark.parametrize("style", ["seconds", "epoch"])
def test_rate_limit(emu: Emulator, http: requests.Session, style: str) -> None:
    emu.set_faults(Faults(rate_limit=5, rate_window_s=3.0, rate_reset_style=style))
    answers = [track(http, emu, attributes=[attr(f"u{i}")]) for i in range(6)]
    assert [r.status_code for r in answers] == [201] * 5 + [429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    limited = answers[5]
    assert limited.headers["X-RateLimit-Limit"] == "5"
    assert 1 <= int(limited.headers["Retry-After"]) <= 3
    assert limited.headers["X-Ratelimit-Retry-After"] == limited.headers["Retry-After"]
    assert "message" in limited.json()
    reset = int(limited.headers["X-RateLimit-Reset"])
    if style == "seconds":
        assert 1 <= reset <= 3
    else:
        assert reset > 1e9
        assert 0 <= reset - time.time() <= 4
    assert emu.find_profile(external_id="u5") is None
    assert [r.status for r in emu.requests][-1] == 429


def test_rate_window_rolls_over(emu: Emulator, http: requests.Session) -> None:
    # A window long enough that the second request falls in it even on a loaded machine.
    emu.set_faults(Faults(rate_limit=1, rate_window_s=2.0))
    assert track(http, emu, attributes=[attr("a")]).status_code == 201
    assert track(http, emu, attributes=[attr("b")]).status_code == 429
    time.sleep(2.05)
    assert track(http, emu, attributes=[attr("c")]).status_code == 201


def test_rate_limit_is_exact_under_concurrency(emu: Emulator) -> None:
    emu.set_faults(Faults(rate_limit=20, rate_window_s=30.0))
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with requests.Session() as session:
            for i in range(5):
                response = session.post(
                    f"{emu.url}/users/track",
                    json={"attributes": [attr(f"w{n}-{i}")]},
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=5,
                )
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 20 + [429] * 20
    assert len(emu.profiles) == 20


def test_delete_rate_limit_is_a_separate_budget(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(rate_limit=1, delete_rate_limit=2, rate_window_s=30.0))
    assert track(http, emu, attributes=[attr("u1")]).status_code == 201
    assert track(http, emu, attributes=[attr("u2")]).status_code == 429
    deletes = [
        http.post(f"{emu.url}/users/delete", json={"external_ids": ["u1"]}, timeout=5)
        for _ in range(3)
    ]
    assert [r.status_code for r in deletes] == [201, 201, 429]
    assert deletes[0].headers["X-RateLimit-Limit"] == "2"


def test_error_every_third_request_is_503_and_not_processed(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(error_every=3))
    statuses = [track(http, emu, attributes=[attr(f"u{i}")]).status_code for i in range(4)]
    assert statuses == [201, 201, 503, 201]
    assert emu.find_profile(external_id="u2") is None
    assert emu.find_profile(external_id="u3") is not None


def test_lost_response_is_processed_but_client_sees_connection_error(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(lose_response_every=2))
    assert track(http, emu, attributes=[attr("u1")]).status_code == 201
    with pytest.raises(requests.ConnectionError):
        track(http, emu, events=[event("u2")])
    assert emu.events == [event("u2")]
    assert emu.find_profile(external_id="u2") is not None
    assert track(http, emu, attributes=[attr("u3")]).status_code == 201  # pool recovers
    lost = emu.requests[1]
    assert (lost.status, lost.response_lost) == (201, True)


def test_reject_external_ids_refuses_only_that_object(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(reject_external_ids=frozenset({"bad"})))
    response = track(http, emu, attributes=[attr("good"), attr("bad")], events=[event("bad")])
    assert response.status_code == 201
    assert [(e["input_array"], e["index"]) for e in response.json()["errors"]] == [
        ("attributes", 1),
        ("events", 0),
    ]
    assert [p["external_id"] for p in emu.profiles] == ["good"]
    assert emu.events == []


def test_fail_batch_external_ids_refuses_the_whole_batch(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(fail_batch_external_ids=frozenset({"poison"})))
    response = track(http, emu, attributes=[attr("good")], events=[event("poison")])
    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert emu.profiles == [] and emu.events == [] and emu.data_points == 0


def test_status_override_answers_every_api_request(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(status_override=403))
    response = track(http, emu, attributes=[attr("u1")])
    assert response.status_code == 403
    assert set(response.json()) == {"message"}
    assert emu.profiles == []
    assert requests.get(f"{emu.url}/_emulator/state", timeout=5).status_code == 200


def test_set_faults_while_running_takes_effect(emu: Emulator, http: requests.Session) -> None:
    assert track(http, emu, attributes=[attr("u1")]).status_code == 201
    emu.set_faults(Faults(status_override=500))
    assert track(http, emu, attributes=[attr("u2")]).status_code == 500
    emu.set_faults(Faults())
    assert track(http, emu, attributes=[attr("u3")]).status_code == 201
    assert [p["external_id"] for p in emu.profiles] == ["u1", "u3"]


def test_latency_overlaps_across_concurrent_requests(emu: Emulator) -> None:
    emu.set_faults(Faults(latency_ms=300))
    durations: list[float] = []

    def call(n: int) -> None:
        started = time.perf_counter()
        requests.post(
            f"{emu.url}/users/track",
            json={"attributes": [attr(f"u{n}")]},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=5,
        )
        durations.append(time.perf_counter() - started)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(durations) >= 0.3
    # Serialised, the emulator would finish them at least 0.3 s apart (0.9 s from first to
    # last); overlapping, they finish as close together as they started.
    finished = [r.received_at for r in emu.requests]
    assert max(finished) - min(finished) < 0.9
    assert len(emu.profiles) == 4


# Recording and helpers


def test_requests_are_recorded_in_order_with_object_counts(
    emu: Emulator, http: requests.Session
) -> None:
    track(http, emu, attributes=[attr("u1")], events=[event("u1"), event("u1")])
    track(http, emu, attributes=[])
    requests.post(f"{emu.url}/users/track", json={"attributes": [attr("u9")]}, timeout=5)
    recorded = emu.requests
    assert [(r.path, r.status, r.objects) for r in recorded] == [
        ("/users/track", 201, 3),
        ("/users/track", 400, 0),
        ("/users/track", 401, 1),
    ]
    assert recorded[0].body == {"attributes": [attr("u1")], "events": [event("u1")] * 2}
    assert len(emu.track_requests) == 1


def test_state_and_faults_over_http(emu: Emulator, http: requests.Session) -> None:
    track(http, emu, attributes=[attr("u1", a=1)], events=[event("u1")])
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    assert state["profiles"][0]["external_id"] == "u1"
    assert state["events"] == [event("u1")]
    assert (state["requests"], state["track_requests"], state["data_points"]) == (1, 1, 2)

    set_faults = requests.post(
        f"{emu.url}/_emulator/faults", json={"reject_external_ids": ["u2"]}, timeout=5
    )
    assert set_faults.status_code == 200
    assert emu.faults.reject_external_ids == frozenset({"u2"})
    assert "errors" in track(http, emu, attributes=[attr("u2")]).json()
    bad = requests.post(f"{emu.url}/_emulator/faults", json={"no_such_fault": 1}, timeout=5)
    assert bad.status_code == 400

    assert requests.post(f"{emu.url}/_emulator/reset", timeout=5).status_code == 200
    assert emu.profiles == [] and emu.requests == []
    assert emu.faults.reject_external_ids == frozenset({"u2"})  # reset keeps faults


def test_emulator_refuses_non_loopback_hosts() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "example.com", "::"):
        with pytest.raises(ValueError):
            Emulator(api_key=KEY, host=host)
        with pytest.raises(ValueError):
            serve(host, 0, KEY, Faults())
    Emulator(api_key=KEY, host="localhost")
    Emulator(api_key=KEY, host="127.0.0.2")
    Emulator(api_key=KEY, host="::1")


def test_context_manager_stops_and_closes_keep_alive_connections() -> None:
    with requests.Session() as session:
        with Emulator(api_key="k") as emu:
            url = emu.url
            assert url.startswith("http://127.0.0.1:")
            response = session.post(
                f"{url}/users/track",
                json={"attributes": [attr("u1")]},
                headers={"Authorization": "Bearer k"},
                timeout=5,
            )
            assert response.status_code == 201
        # The pooled keep-alive connection must not reach a stopped emulator.
        with pytest.raises(requests.ConnectionError):
            session.post(
                f"{url}/users/track",
                json={"attributes": [attr("u2")]},
                headers={"Authorization": "Bearer k"},
                timeout=2,
            )
    assert emu.find_profile(external_id="u2") is None


# API keys


def test_a_second_key_reaches_the_workspace_until_it_is_removed() -> None:
    def send(url: str, key: str) -> int:
        return requests.post(
            f"{url}/users/track",
            json={"attributes": [attr("u1")]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        ).status_code

    with Emulator(api_key="first") as emu:
        before = send(emu.url, "rotated")
        emu.add_api_key("rotated")
        emu.add_api_key("rotated")  # once is enough
        both = (send(emu.url, "first"), send(emu.url, "rotated"))
        emu.remove_api_key("first")
        after = (send(emu.url, "first"), send(emu.url, "rotated"))
        keys = emu.api_keys
        with pytest.raises(ValueError):
            emu.remove_api_key("never-added")
        with pytest.raises(ValueError):
            emu.add_api_key("")

    assert (before, both, after) == (401, (201, 201), (401, 201))
    assert keys == ("rotated",)


def test_keys_added_and_removed_while_requests_run_never_refuse_a_current_key() -> None:
    with Emulator(api_key="steady") as emu:
        statuses: list[int] = []
        stop = threading.Event()

        def churn() -> None:
            n = 0
            while not stop.is_set():
                emu.add_api_key(f"temp-{n}")
                emu.remove_api_key(f"temp-{n}")
                n += 1

        churner = threading.Thread(target=churn)
        churner.start()
        try:
            with requests.Session() as session:
                for i in range(100):
                    statuses.append(
                        session.post(
                            f"{emu.url}/users/track",
                            json={"attributes": [attr(f"u{i}")]},
                            headers={"Authorization": "Bearer steady"},
                            timeout=5,
                        ).status_code
                    )
        finally:
            stop.set()
            churner.join()

        assert statuses == [201] * 100
        assert emu.api_keys == ("steady",)


def test_two_emulators_stand_in_for_two_workspaces() -> None:
    with Emulator(api_key="ws-a") as a, Emulator(api_key="ws-b") as b:
        wrong = requests.post(
            f"{a.url}/users/track",
            json={"attributes": [attr("u1")]},
            headers={"Authorization": "Bearer ws-b"},
            timeout=5,
        )
        right = requests.post(
            f"{b.url}/users/track",
            json={"attributes": [attr("u1")]},
            headers={"Authorization": "Bearer ws-b"},
            timeout=5,
        )

        assert (wrong.status_code, right.status_code) == (401, 201)
        assert (a.profiles, len(b.profiles)) == ([], 1)


# `dbt-braze emulator`

DBT_BRAZE = os.path.join(os.path.dirname(sys.executable), "dbt-braze")


def _listening_socket() -> socket.socket:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_the_emulator_command_on_a_busy_port_says_so_in_one_line_and_exits_2() -> None:
    with _listening_socket() as holder:
        port = holder.getsockname()[1]
        done = subprocess.run(
            [DBT_BRAZE, "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,  # a bound for a hang, not a speed
        )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"Error: port {port} on 127.0.0.1 is in use: Address already in use; "
        "choose another with --port\n"
    )


@pytest.mark.parametrize(
    ("options", "export_limit", "catalog_read_limit"),
    [
        ([], 250, 50),
        (["--export-rate-limit", "2500", "--catalog-read-rate-limit", "0"], 2500, None),
    ],
    ids=["braze-defaults", "set"],
)
def test_the_emulator_command_limits_exports_and_catalog_reads_as_braze_does(
    options: list[str], export_limit: int, catalog_read_limit: int | None
) -> None:
    with _listening_socket() as probe:
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [DBT_BRAZE, "emulator", "--port", str(port), "--api-key", "k", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == f"Braze emulator listening on http://127.0.0.1:{port}\n", line + (
            proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        )
        faults = requests.get(f"http://127.0.0.1:{port}/_emulator/faults", timeout=5).json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)

    assert faults["faults"]["export_rate_limit"] == export_limit
    assert faults["faults"]["export_rate_window_s"] == 60.0
    assert faults["faults"]["catalog_read_rate_limit"] == catalog_read_limit


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stops_on_ctrl_c_and_sigterm_even_when_started_with_sigint_ignored(sig: int) -> None:
    """A shell without job control starts background commands with SIGINT ignored, and Python
    then installs no handler: the emulator ignored Ctrl-C (seen when `.ci/run` ran in the
    background)."""
    code = "from dbt_braze.emulator import Faults, serve; serve('127.0.0.1', 0, 'k', Faults())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.send_signal(sig)

        assert proc.wait(timeout=60) == 0  # a bound for a hang: before, it never stopped
    finally:
        proc.kill()
        proc.wait()


# tgkill(2), which signals one thread of a process, by machine.
_TGKILL = {"x86_64": 234, "aarch64": 131}


@pytest.mark.skipif(os.uname().machine not in _TGKILL, reason="tgkill's number is per machine")
def test_serve_stops_on_a_ctrl_c_that_reaches_one_of_its_server_threads() -> None:
    """The kernel hands a process's signal to any of its threads. One taken by a server
    thread while the main thread waited without a timeout was never acted on: the emulator hung
    on Ctrl-C now and then (seen in CI)."""
    code = "from dbt_braze.emulator import Faults, serve; serve('127.0.0.1', 0, 'k', Faults())"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # listening: its server thread runs
        threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert threads
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(_TGKILL[os.uname().machine], proc.pid, threads[0], signal.SIGINT) == 0

        # a bound for a hang, not a speed: before, it waited forever
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()


def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from dbt_braze.emulator import Faults, serve; serve('127.0.0.1', 0, 'k', Faults())"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.fullmatch(r"Braze emulator listening on http://127\.0\.0\.1:\d+\n", line)
        response = requests.post(
            f"{line.split()[-1]}/users/track",
            json={"attributes": [attr("u1")]},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        assert response.status_code == 201
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0  # a bound for a hang: a loaded machine is slow to stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_faults_validate_and_freeze_collections() -> None:
    faults = Faults(reject_external_ids={"a", "b"})  # type: ignore[arg-type]
    assert faults.reject_external_ids == frozenset({"a", "b"})
    with pytest.raises(ValueError):
        Faults(rate_reset_style="minutes")
    for bad in (
        {"export_rate_limit": -1},
        {"catalog_read_rate_limit": 1.5},
        {"export_rate_window_s": 0},
        {"catalog_read_rate_window_s": "60"},
    ):
        with pytest.raises(ValueError):
            Faults(**bad)
    assert Faults.from_json({"export_rate_limit": 250}).export_rate_window_s == 60.0
    with pytest.raises(TypeError):
        Faults(reject_external_ids="abc")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- catalogs


def items(http: requests.Session, emu: Emulator, method: str, catalog: str, *given: Any) -> Any:
    return http.request(
        method, f"{emu.url}/catalogs/{catalog}/items", json={"items": list(given)}, timeout=5
    )


def test_a_catalog_made_by_post_catalogs_is_listed_with_its_fields(
    emu: Emulator, http: requests.Session
) -> None:
    fields = [{"name": "id", "type": "string"}, {"name": "title", "type": "string"}]
    made = http.post(
        f"{emu.url}/catalogs", json={"catalogs": [{"name": "made", "fields": fields}]}, timeout=5
    )
    listed = http.get(f"{emu.url}/catalogs", timeout=5).json()

    assert made.status_code == 201
    (made_catalog,) = [c for c in listed["catalogs"] if c["name"] == "made"]
    assert made_catalog["fields"] == fields and listed["message"] == "success"


def test_items_are_created_edited_replaced_and_deleted(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("shop", {"title": "string", "price": "number"})

    created = items(http, emu, "POST", "shop", {"id": "a", "title": "A", "price": 1})
    edited = items(http, emu, "PATCH", "shop", {"id": "a", "price": 2})
    replaced = items(http, emu, "PUT", "shop", {"id": "b", "title": "B"})
    after_edits = emu.catalog_items("shop")
    deleted = items(http, emu, "DELETE", "shop", {"id": "a"})

    assert [r.status_code for r in (created, edited, replaced, deleted)] == [202] * 4
    assert created.json() == {"message": "success"}
    assert after_edits == {"a": {"title": "A", "price": 2}, "b": {"title": "B"}}
    assert emu.catalog_items("shop") == {"b": {"title": "B"}}


@pytest.mark.parametrize(
    ("method", "item", "error"),
    [
        ("POST", {"id": "bad id"}, "invalid-ids"),
        ("POST", {"id": "x" * 251}, "ids-too-large"),
        ("POST", {"id": "ok", "colour": "red"}, "invalid-fields"),
        ("POST", {"id": "ok", "price": "cheap"}, "unable-to-coerce-value"),
        ("POST", {"id": "ok", "title": "t" * 5001}, "items-too-large"),
        ("POST", {"id": "ok", "meta": {"a.b": 1}}, "invalid-keys-in-value-object"),
        ("POST", {"id": "exists"}, "ids-not-unique"),
        ("PATCH", {"id": "missing", "title": "t"}, "items-not-found"),
    ],
)
def test_a_refused_item_is_named_and_nothing_of_the_request_is_applied(
    emu: Emulator, http: requests.Session, method: str, item: dict[str, Any], error: str
) -> None:
    emu.create_catalog("rules", {"title": "string", "price": "number", "meta": "object"})
    assert items(http, emu, "POST", "rules", {"id": "exists"}).status_code == 202

    good = {"id": "exists" if method == "PATCH" else "good", "title": "G"}
    response = items(http, emu, method, "rules", good, item)

    assert response.status_code == 400
    (entry,) = response.json()["errors"]
    assert (entry["id"], entry["parameters"], entry["parameter_values"]) == (
        error,
        ["id"],
        [item["id"]],
    )
    assert emu.catalog_items("rules") == {"exists": {}}


def test_an_unknown_catalog_is_a_404_and_too_many_items_a_request_error(
    emu: Emulator, http: requests.Session
) -> None:
    emu.create_catalog("small", {})

    unknown = items(http, emu, "POST", "nowhere", {"id": "a"})
    many = items(http, emu, "POST", "small", *({"id": f"i{n}"} for n in range(51)))

    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["id"] == "catalog-not-found"
    assert many.status_code == 400
    assert many.json()["errors"][0]["parameter_values"] == []


# ------------------------------------------------------------------- subscription groups


def test_subscription_groups_are_kept_for_known_groups_only(
    emu: Emulator, http: requests.Session
) -> None:
    emu.add_subscription_group("g-known")
    known = {"subscription_group_id": "g-known", "subscription_state": "subscribed"}
    unknown = {"subscription_group_id": "g-other", "subscription_state": "subscribed"}

    response = track(
        http,
        emu,
        attributes=[
            attr("u1", subscription_groups=[known], email_subscribe="opted_in"),
            attr("u2", subscription_groups=[unknown]),
            attr("u3", email_subscribe="yes"),
        ],
    )

    body = response.json()
    assert [(e["index"], e["input_array"]) for e in body["errors"]] == [
        (1, "attributes"),
        (2, "attributes"),
    ]
    u1 = emu.find_profile(external_id="u1")
    assert u1 is not None and u1["subscription_groups"] == {"g-known": "subscribed"}
    assert u1["attributes"] == {"email_subscribe": "opted_in"}
    assert emu.data_points == 0


# ---------------------------------------------------------------------------- counting mode


def test_counting_mode_counts_objects_authorises_and_rate_limits_but_stores_nothing() -> None:
    key = "count-key"
    with Emulator(api_key=key, faults=Faults(rate_limit=2), count_only=True) as counting:
        url = counting.url + "/users/track"
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = {
            "attributes": [{"external_id": "u1", "a": 1}, {"external_id": "u2", "a": None}],
            "events": [{"external_id": "u1", "name": "e", "time": "2026-01-01T00:00:00Z"}],
        }
        answers = [requests.post(url, json=body, headers=auth, timeout=10) for _ in range(3)]
        refused = requests.post(url, json=body, headers={"Authorization": "Bearer x"}, timeout=10)
        elsewhere = requests.post(counting.url + "/users/delete", json={}, headers=auth, timeout=10)
        state = requests.get(counting.url + "/_emulator/state", timeout=10).json()

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[0].json() == {"message": "success"}
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert (refused.status_code, elsewhere.status_code) == (401, 404)
    assert state == {
        "counting": {
            "status_201": 2,
            "status_429": 1,
            "status_401": 1,
            "status_404": 1,
            "objects": 6,
        }
    }
