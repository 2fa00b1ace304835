"""The emulator's /users/track limits for Braze's "Monthly Active Users - CY 24-25" contracts
(post_user_track.md): at most 50 objects a request, an hourly rate limit beside the 3-second
burst limit, and the rate-limit headers saying which window binds; over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_braze.emulator import Emulator, Faults

KEY = "contracts-key"


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emu:
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


def attributes(n: int, prefix: str = "u") -> list[dict[str, Any]]:
    return [{"external_id": f"{prefix}{i}", "tier": "gold"} for i in range(n)]


def events(n: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"e{i}", "name": "played", "time": "2024-05-01T10:00:00Z"} for i in range(n)
    ]


def purchases(n: int) -> list[dict[str, Any]]:
    item = {"product_id": "sku-1", "currency": "USD", "price": 1, "time": "2024-05-01T10:00:00Z"}
    return [{"external_id": f"p{i}", **item} for i in range(n)]


# Objects per request


def test_50_objects_combined_pass_and_51_are_refused_whole_on_the_new_contracts(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(max_track_objects=50))

    fifty = track(http, emu, attributes=attributes(20), events=events(20), purchases=purchases(10))
    too_many = track(
        http, emu, attributes=attributes(20, "x"), events=events(20), purchases=purchases(11)
    )

    assert fifty.status_code == 201
    assert too_many.status_code == 400
    assert too_many.json() == {"message": "Max Input Length Exceeded"}
    assert len(emu.profiles) == 50  # nothing of the refused request was applied
    assert emu.find_profile(external_id="x0") is None
    assert len(emu.events) == 20


def test_75_objects_remain_the_default(emu: Emulator, http: requests.Session) -> None:
    assert Faults().max_track_objects == 75
    assert track(http, emu, attributes=attributes(75)).status_code == 201
    assert track(http, emu, attributes=attributes(76)).status_code == 400


# The hourly window beside the burst window


def test_the_headers_report_the_hourly_window_when_it_is_the_tighter(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(rate_limit=100, hourly_rate_limit=5, rate_reset_style="seconds"))

    answers = [track(http, emu, attributes=attributes(1, f"h{i}-")) for i in range(5)]

    assert [r.status_code for r in answers] == [201] * 5
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"5"}
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["4", "3", "2", "1", "0"]
    # Seconds until the hourly window resets, not the 3-second burst window's.
    assert all(3 < int(r.headers["X-RateLimit-Reset"]) <= 3600 for r in answers)


def test_the_headers_report_the_burst_window_when_it_is_the_tighter(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(
        Faults(rate_limit=3, rate_window_s=30.0, hourly_rate_limit=100, rate_reset_style="seconds")
    )

    answers = [track(http, emu, attributes=attributes(1, f"b{i}-")) for i in range(4)]

    assert [r.status_code for r in answers] == [201, 201, 201, 429]
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"3"}
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert int(answers[-1].headers["X-RateLimit-Reset"]) <= 30
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 30


def test_a_429_from_the_hourly_window_carries_that_windows_reset(
    emu: Emulator, http: requests.Session
) -> None:
    emu.set_faults(Faults(rate_limit=1000, hourly_rate_limit=2))

    answers = [track(http, emu, attributes=attributes(1, f"r{i}-")) for i in range(3)]

    assert [r.status_code for r in answers] == [201, 201, 429]
    limited = answers[-1]
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    retry = int(limited.headers["Retry-After"])
    assert 3000 < retry <= 3600
    assert limited.headers["X-Ratelimit-Retry-After"] == str(retry)
    reset = int(limited.headers["X-RateLimit-Reset"])  # epoch seconds by default
    assert 3000 < reset - time.time() <= 3601
    assert "3600 seconds" in limited.json()["message"]
    assert emu.find_profile(external_id="r2-0") is None


def test_a_request_refused_by_one_window_counts_against_neither(
    emu: Emulator, http: requests.Session
) -> None:
    # A burst window long enough that three requests fall in it even on a loaded machine.
    emu.set_faults(Faults(rate_limit=2, rate_window_s=2.0, hourly_rate_limit=3))

    answers = [track(http, emu, attributes=attributes(1, f"n{i}-")) for i in range(3)]
    assert [r.status_code for r in answers] == [201, 201, 429]
    time.sleep(2.05)  # the burst window resets; the hourly one holds 2 requests, not 3
    after = track(http, emu, attributes=attributes(1, "after-"))

    assert after.status_code == 201
    assert after.headers["X-RateLimit-Limit"] == "3"
    assert after.headers["X-RateLimit-Remaining"] == "0"


def test_the_hourly_window_resets(emu: Emulator, http: requests.Session) -> None:
    # A short window, long enough that the second request falls in it on a loaded machine:
    # its reset is what this test is about.
    emu.set_faults(Faults(hourly_rate_limit=1, hourly_rate_window_s=2.0))

    assert track(http, emu, attributes=attributes(1, "w1-")).status_code == 201
    assert track(http, emu, attributes=attributes(1, "w2-")).status_code == 429
    time.sleep(2.05)
    assert track(http, emu, attributes=attributes(1, "w3-")).status_code == 201


def test_the_hourly_window_is_only_track_s(emu: Emulator, http: requests.Session) -> None:
    emu.set_faults(Faults(hourly_rate_limit=1))

    assert track(http, emu, attributes=attributes(1)).status_code == 201
    deleted = http.post(f"{emu.url}/users/delete", json={"external_ids": ["u0"]}, timeout=5)
    assert deleted.status_code == 201
    assert "X-RateLimit-Limit" not in deleted.headers


def test_counting_mode_honours_the_hourly_window() -> None:
    with Emulator(api_key=KEY, count_only=True, faults=Faults(hourly_rate_limit=2)) as counting:
        statuses = [
            requests.post(
                f"{counting.url}/users/track",
                json={"attributes": attributes(1)},
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=5,
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [201, 201, 429]


# Faults


@pytest.mark.parametrize(
    "fields",
    [
        {"max_track_objects": 0},
        {"max_track_objects": "50"},
        {"hourly_rate_limit": -1},
        {"hourly_rate_window_s": 0},
        {"trigger_rate_limit": 1.5},
        {"external_id_rate_window_s": "60"},
        {"delete_rate_window_s": -1},
    ],
)
def test_faults_refuse_bad_contract_fields(fields: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        Faults.from_json(fields)


def test_contract_faults_are_set_over_http(emu: Emulator, http: requests.Session) -> None:
    fields = {"max_track_objects": 50, "hourly_rate_limit": 10, "hourly_rate_window_s": 60}

    response = requests.post(f"{emu.url}/_emulator/faults", json=fields, timeout=5)

    assert response.status_code == 200
    assert emu.faults.max_track_objects == 50
    assert emu.faults.hourly_rate_limit == 10
    assert track(http, emu, attributes=attributes(51)).status_code == 400


# `dbt-braze emulator --contract mau-2024`

DBT_BRAZE = os.path.join(os.path.dirname(sys.executable), "dbt-braze")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _faults_of(options: list[str]) -> dict[str, Any]:
    port = _free_port()
    proc = subprocess.Popen(
        [DBT_BRAZE, "emulator", "--port", str(port), "--api-key", "k", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Braze emulator listening on"), line + (
            proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        )
        faults = requests.get(f"http://127.0.0.1:{port}/_emulator/faults", timeout=5).json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return dict(faults["faults"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], {"max_track_objects": 75, "hourly_rate_limit": None, "rate_limit": None}),
        (
            ["--contract", "mau-2024", "--hourly-rate-limit", "90000"],
            {"max_track_objects": 50, "hourly_rate_limit": 90000, "rate_limit": 3000},
        ),
        (
            ["--contract", "mau-2024", "--hourly-rate-limit", "9", "--rate-limit", "5"],
            {"max_track_objects": 50, "hourly_rate_limit": 9, "rate_limit": 5},
        ),
        (["--max-track-objects", "60"], {"max_track_objects": 60, "hourly_rate_limit": None}),
    ],
    ids=["standard", "mau-2024", "mau-2024-burst", "max-track-objects"],
)
def test_the_emulator_command_sets_the_contracts_limits(
    options: list[str], expected: dict[str, Any]
) -> None:
    faults = _faults_of(options)

    assert {name: faults[name] for name in expected} == expected
    assert faults["hourly_rate_window_s"] == 3600.0


@pytest.mark.parametrize(
    ("options", "text"),
    [
        (["--contract", "mau-2024"], "--contract mau-2024 needs --hourly-rate-limit N"),
        (["--contract", "enterprise"], "--contract must be 'standard' or 'mau-2024'"),
    ],
    ids=["mau-2024-without-hourly-limit", "unknown-contract"],
)
def test_the_emulator_command_refuses_an_incomplete_contract(options: list[str], text: str) -> None:
    done = subprocess.run(
        [DBT_BRAZE, "emulator", "--port", str(_free_port()), *options],
        capture_output=True,
        text=True,
        timeout=120,  # a bound for a hang, not a speed
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert text in done.stderr
