"""braze.py: batching, the endpoint check, and the client against the emulator over HTTP."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from braze_objects import (
    attributes,
    batch_indexes_of,
    event,
    one_batch,
    padded,
    sizes,
)
from conftest import BRAZE_KEY
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_braze.braze import (
    MAX_OBJECTS,
    BrazeClient,
    batches,
    check_endpoint,
    encode,
    is_loopback,
)
from dbt_braze.emulator import Emulator, Faults
from dbt_braze.errors import (
    BrazeAuthError,
    BrazeBadRequest,
    BrazeConfigError,
    BrazeError,
    BrazeRateLimited,
    BrazeUnavailable,
)
from dbt_braze.payloads import DELETES, BrazeObject

# ----------------------------------------------------------------------------------- batches


def test_no_objects_make_no_batches() -> None:
    assert list(batches([])) == []


def test_batches_never_hold_more_than_75_objects() -> None:
    objects = [attributes(f"u{i:03}", i) for i in range(200)]

    result = list(batches(objects))

    assert MAX_OBJECTS == 75
    assert sizes(result) == [75, 75, 50]


def test_batches_respect_a_smaller_max_objects() -> None:
    result = list(batches([attributes(f"u{i}", i) for i in range(7)], max_objects=3))

    assert sizes(result) == [3, 3, 1]


def test_batches_respect_a_small_max_bytes() -> None:
    objects = [padded(f"u{i}", i, 40) for i in range(7)]
    length = len(encode(objects[0]))
    assert all(len(encode(o)) == length for o in objects)

    result = list(batches(objects, max_bytes=2 * length + 5))

    assert sizes(result) == [2, 2, 2, 1]
    for batch in result:
        assert sum(len(body) for body in batch.encoded) + len(batch.encoded) - 1 <= 2 * length + 5


def test_an_object_larger_than_max_bytes_travels_alone() -> None:
    objects = [padded("u1", 1, 5), padded("u2", 2, 500), padded("u3", 3, 5)]

    result = list(batches(objects, max_bytes=300))

    assert [[o.seq for o in b.objects] for b in result] == [[1], [2], [3]]


def test_encoded_bodies_are_the_objects_json_in_utf8() -> None:
    objects = [attributes("u1", 1, city="K\u00f8benhavn"), event("u1", 2)]

    batch = one_batch(objects)

    assert batch.objects == tuple(objects)
    assert batch.encoded == tuple(encode(o) for o in objects)
    assert json.loads(batch.encoded[0]) == objects[0].body
    assert "K\u00f8benhavn".encode() in batch.encoded[0]


def test_order_of_objects_is_preserved_across_batches() -> None:
    objects = [
        attributes(f"u{i // 3:03}", i) if i % 2 else event(f"u{i // 3:03}", i) for i in range(400)
    ]

    result = list(batches(objects, max_objects=10))

    assert [o for b in result for o in b.objects] == objects
    assert all(len(b.objects) <= 10 for b in result)


def test_consecutive_objects_of_one_user_stay_in_one_batch() -> None:
    objects = [attributes(f"a{i:02}", i) for i in range(74)]
    objects += [attributes("straddler", 100), event("straddler", 101), event("straddler", 102)]
    objects += [attributes("z", 200)]

    result = list(batches(objects))

    # 74 + 3 would overflow 75: the straddling user opens the next batch whole.
    assert sizes(result) == [74, 4]
    assert batch_indexes_of(result, "straddler") == [1]
    assert [o.seq for o in result[1].objects] == [100, 101, 102, 200]


def test_user_that_would_straddle_the_byte_limit_starts_a_new_batch() -> None:
    objects = [padded("a", 1, 30), padded("b", 2, 30), padded("c", 3, 30), padded("c", 4, 30)]
    length = len(encode(objects[0]))

    result = list(batches(objects, max_bytes=3 * length + 10))

    assert [[o.seq for o in b.objects] for b in result] == [[1, 2], [3, 4]]


def test_user_with_more_than_75_objects_is_split_over_consecutive_batches_in_order() -> None:
    objects = [attributes("first", 0)]
    objects += [event("big", seq) for seq in range(1, 161)]
    objects += [attributes("last", 500), event("last", 501)]

    result = list(batches(objects))

    assert sizes(result) == [1, 75, 75, 12]
    assert batch_indexes_of(result, "big") == [1, 2, 3]
    big = [o.seq for b in result for o in b.objects if o.key == "big"]
    assert big == list(range(1, 161))
    assert [o.seq for o in result[3].objects][-2:] == [500, 501]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 90), st.integers(0, 60)), min_size=0, max_size=40),
    st.integers(1, 80),
    st.integers(40, 3_000),
)
def test_batches_keep_every_rule_whatever_the_users(
    users: list[tuple[int, int]], max_objects: int, max_bytes: int
) -> None:
    # users: (objects, padding) per user, in identifier order; every object fits alone.
    objects = [
        padded(f"u{u:03}", 1000 * u + i, min(padding, max_bytes // 4))
        for u, (count, padding) in enumerate(users)
        for i in range(count)
    ]
    objects = [o for o in objects if len(encode(o)) + 1 <= max_bytes]

    result = list(batches(objects, max_objects=max_objects, max_bytes=max_bytes))

    assert [o for b in result for o in b.objects] == objects  # nothing lost, order kept
    for batch in result:
        assert 1 <= len(batch.objects) <= max_objects
        assert sum(len(e) + 1 for e in batch.encoded) <= max_bytes
        assert list(batch.encoded) == [encode(o) for o in batch.objects]
    where: dict[str, list[int]] = {}
    for index, batch in enumerate(result):
        for o in batch.objects:
            where.setdefault(o.key, []).append(index)
    for key, indexes in where.items():
        mine = [o for o in objects if o.key == key]
        fits = len(mine) <= max_objects and sum(len(encode(o)) + 1 for o in mine) <= max_bytes
        if fits:  # a user who fits in one request travels in one
            assert len(set(indexes)) == 1, key
        else:  # else in consecutive ones
            assert sorted(set(indexes)) == list(range(indexes[0], indexes[-1] + 1)), key


def test_batch_split_halves_objects_and_bodies_together() -> None:
    batch = one_batch([attributes(f"u{i}", i) for i in range(5)])

    left, right = batch.split()

    assert [o.seq for o in left.objects] == [0, 1]
    assert [o.seq for o in right.objects] == [2, 3, 4]
    assert left.encoded + right.encoded == batch.encoded
    assert batch.users == frozenset(("external_id", "", f"u{i}") for i in range(5))


# ---------------------------------------------------------------------------- check_endpoint


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://rest.iad-01.braze.com", "https://rest.iad-01.braze.com"),
        ("https://rest.iad-01.braze.com/", "https://rest.iad-01.braze.com"),
        ("https://rest.fra-02.braze.eu//", "https://rest.fra-02.braze.eu"),
        ("  https://rest.iad-01.braze.com/ \n", "https://rest.iad-01.braze.com"),
    ],
)
def test_endpoint_loses_trailing_slash_and_whitespace(endpoint: str, expected: str) -> None:
    assert check_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://localhost:4000",
        "http://LOCALHOST:4000",
        "http://[::1]:4000",
        "http://127.0.0.2",
    ],
)
def test_plain_http_is_allowed_to_loopback(endpoint: str) -> None:
    assert check_endpoint(endpoint) == endpoint.rstrip("/")


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("http://rest.iad-01.braze.com", "rest.iad-01.braze.com"),
        ("http://localhost.example.com", "localhost.example.com"),
        ("http://10.0.0.1:8080", "10.0.0.1"),
        ("http://0.0.0.0:8080", "0.0.0.0"),
    ],
)
def test_plain_http_is_refused_for_other_hosts(endpoint: str, host: str) -> None:
    with pytest.raises(BrazeConfigError) as raised:
        check_endpoint(endpoint)

    message = str(raised.value)
    assert f"refusing plain http:// to {host}" in message
    assert "https://" in message


@pytest.mark.parametrize(
    "endpoint",
    ["rest.iad-01.braze.com", "ftp://rest.iad-01.braze.com", "https://", "not a url"],
)
def test_garbage_endpoint_is_refused_with_an_example(endpoint: str) -> None:
    with pytest.raises(BrazeConfigError, match=re.escape("is not a URL; expected e.g. https://")):
        check_endpoint(endpoint)


@pytest.mark.parametrize("endpoint", ["", "  "])
def test_a_missing_endpoint_says_to_set_it(endpoint: str) -> None:
    with pytest.raises(BrazeConfigError, match="BRAZE_REST_ENDPOINT is not set: export"):
        check_endpoint(endpoint)


@pytest.mark.parametrize(
    "endpoint",
    ["http://[::1", "https://rest.iad-01.braze.com:abc", "https://rest.iad-01.braze.com:99999"],
    ids=["unclosed-ipv6", "port-not-a-number", "port-out-of-range"],
)
def test_malformed_endpoint_is_refused_as_a_config_error(endpoint: str) -> None:
    with pytest.raises(BrazeConfigError):
        check_endpoint(endpoint)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.1", False),
        ("rest.iad-01.braze.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_client_refuses_plain_http_and_a_missing_key_before_sending() -> None:
    with pytest.raises(BrazeConfigError):
        BrazeClient("http://rest.iad-01.braze.com", BRAZE_KEY)
    with pytest.raises(BrazeConfigError, match="BRAZE_API_KEY"):
        BrazeClient("https://rest.iad-01.braze.com", "")


# ------------------------------------------------------------------ the client over real HTTP


def test_track_acknowledges_every_object_braze_accepts(emu: Emulator, client: BrazeClient) -> None:
    objects = [attributes("u1", 1, plan="pro"), attributes("u2", 2, plan="free"), event("u1", 3)]

    result = client.track(one_batch(objects))

    assert result.acknowledged == objects
    assert result.rejected == []
    assert emu.user_attributes("u1") == {"plan": "pro"}
    assert len(emu.events) == 1


def test_object_braze_rejects_is_rejected_with_its_reason_and_others_acknowledged(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(reject_external_ids=frozenset({"u2"})))
    u1, u2, u3 = attributes("u1", 1), attributes("u2", 2), attributes("u3", 3)

    result = client.track(one_batch([u1, u2, u3]))

    assert result.acknowledged == [u1, u3]
    assert result.rejected == [(u2, "Refused: emulated rejection of this external_id")]
    assert emu.user_attributes("u2") is None
    assert emu.user_attributes("u3") == {"plan": "pro"}


def test_braze_errors_are_placed_by_index_within_their_own_array(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(reject_external_ids=frozenset({"u3"})))
    objects = [attributes("u1", 1), event("u2", 2), attributes("u3", 3), event("u3", 4)]

    result = client.track(one_batch(objects))

    # u3 is index 1 of `attributes` and index 1 of `events`; u2's event is index 0.
    assert sorted(o.seq for o, _ in result.rejected) == [3, 4]
    assert sorted(o.seq for o in result.acknowledged) == [1, 2]


def test_braze_validation_error_is_the_rejection_reason(emu: Emulator, client: BrazeClient) -> None:
    bad = event("u1", 2, time="last tuesday")

    result = client.track(one_batch([event("u1", 1), bad]))

    assert [o.seq for o in result.acknowledged] == [1]
    assert result.rejected == [(bad, "'time' must be an ISO 8601 date-time string")]


def test_status_401_raises_auth_error_that_does_not_reveal_the_key(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=401))

    with pytest.raises(BrazeAuthError) as raised:
        client.track(one_batch([attributes("u1")]))

    assert raised.value.status == 401
    message = str(raised.value)
    assert BRAZE_KEY not in message and BRAZE_KEY not in repr(raised.value.args)
    assert "401" in message and "cluster" in message and emu.url in message


def test_wrong_key_raises_auth_error_that_does_not_reveal_it(emu: Emulator) -> None:
    wrong = "wrong-key-5be01f"
    braze = BrazeClient(emu.url, wrong)
    try:
        with pytest.raises(BrazeAuthError) as raised:
            braze.track(one_batch([attributes("u1")]))
    finally:
        braze.close()

    assert raised.value.status == 401
    assert wrong not in str(raised.value)
    assert emu.profiles == []


def test_status_403_names_the_missing_permission(emu: Emulator, client: BrazeClient) -> None:
    emu.set_faults(Faults(status_override=403))

    with pytest.raises(BrazeAuthError, match=re.escape("users.track")) as raised:
        client.track(one_batch([attributes("u1")]))

    assert raised.value.status == 403


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BrazeBadRequest),
        (413, BrazeBadRequest),
        (500, BrazeUnavailable),
        (502, BrazeUnavailable),
        (503, BrazeUnavailable),
    ],
)
def test_whole_request_failures_raise_typed_errors(
    emu: Emulator, client: BrazeClient, status: int, error: type[BrazeError]
) -> None:
    emu.set_faults(Faults(status_override=status))

    with pytest.raises(error) as raised:
        client.track(one_batch([attributes("u1")]))

    assert raised.value.status == status


def test_status_429_raises_rate_limited_with_retry_after(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=429))

    with pytest.raises(BrazeRateLimited) as raised:
        client.track(one_batch([attributes("u1")]))

    assert raised.value.status == 429
    assert raised.value.retry_after == 1.0


def test_unexpected_status_raises_the_base_error_naming_it(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=404))

    with pytest.raises(BrazeError) as raised:
        client.track(one_batch([attributes("u1")]))

    assert type(raised.value) is BrazeError
    assert "404" in str(raised.value)


def test_refused_connection_raises_server_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    braze = BrazeClient(f"http://127.0.0.1:{port}", BRAZE_KEY, connect_timeout=1)
    try:
        with pytest.raises(BrazeUnavailable, match="connection to Braze failed"):
            braze.track(one_batch([attributes("u1")]))
    finally:
        braze.close()


# A Braze answer the emulator never gives: errors that cannot be placed on an object.


@pytest.fixture(scope="module")
def canned_server() -> Iterator[tuple[str, dict[str, Any]]]:
    answer: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(answer).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", answer
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def canned(
    canned_server: tuple[str, dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """A server that answers every POST with 201 and the JSON the test puts in the dict."""
    url, answer = canned_server
    answer.clear()
    return url, answer


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "something broke"},
        {"type": "no array", "index": 0},
        {"type": "bad array", "input_array": "users", "index": 0},
        {"type": "index as text", "input_array": "attributes", "index": "0"},
        "a bare string",
    ],
    ids=["no-place", "no-array", "unknown-array", "text-index", "not-an-object"],
)
def test_error_braze_does_not_place_rejects_the_whole_batch(
    canned: tuple[str, dict[str, Any]], entry: Any
) -> None:
    url, answer = canned
    answer.update({"message": "success", "errors": [entry]})
    objects = [attributes("u1", 1), attributes("u2", 2)]
    braze = BrazeClient(url, BRAZE_KEY)
    try:
        result = braze.track(one_batch(objects))
    finally:
        braze.close()

    assert result.acknowledged == []
    assert [o for o, _ in result.rejected] == objects
    assert all("did not attribute" in reason for _, reason in result.rejected)


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "boom", "input_array": "attributes", "index": 5},
        {"type": "boom", "input_array": "attributes", "index": -1},
        {"type": "boom", "input_array": "purchases", "index": 0},
    ],
    ids=["index-past-the-end", "negative-index", "array-not-sent"],
)
def test_error_pointing_at_no_object_of_the_request_is_not_acknowledged(
    canned: tuple[str, dict[str, Any]], entry: dict[str, Any]
) -> None:
    url, answer = canned
    answer.update({"message": "success", "errors": [entry]})
    objects = [attributes("u1", 1), attributes("u2", 2)]
    braze = BrazeClient(url, BRAZE_KEY)
    try:
        result = braze.track(one_batch(objects))
    finally:
        braze.close()

    assert result.acknowledged == []


# ------------------------------------------------------- only a well-formed answer acknowledges


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<html><body>Welcome to the hotel wifi</body></html>"),
        (201, '{"ok": true}'),
        (201, '{"message": "queued"}'),
        (201, '["success"]'),
        (201, ""),
        (201, '{"message": "success", "errors": "something"}'),
    ],
    ids=["html-page", "json-without-message", "other-message", "json-list", "empty", "errors-text"],
)
def test_a_2xx_that_is_not_brazes_answer_acknowledges_nothing(
    emu: Emulator, client: BrazeClient, status: int, body: str
) -> None:
    emu.set_faults(Faults(status_override=status, body_override=body))

    with pytest.raises(BrazeUnavailable, match=r"without Braze's answer|not a list") as raised:
        client.track(one_batch([attributes("u1")]))

    assert raised.value.maybe_processed  # a proxy may have passed it on: counted as uncertain


def test_a_delete_answered_by_something_else_acknowledges_nothing(
    emu: Emulator, client: BrazeClient
) -> None:
    emu.set_faults(Faults(status_override=200, body_override="<html>sign in</html>"))
    delete = BrazeObject(
        DELETES["external_id"], {"external_id": "u1"}, ("external_id", "", "u1"), "u1", 0, 1, 0
    )

    with pytest.raises(BrazeUnavailable):
        client.send(next(iter(batches([delete]))))
