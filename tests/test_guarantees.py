"""The README's "Guarantees", each proved end to end: real dbt, real warehouses, the emulator.

What is never lost, what may be sent twice and how often at most, what is never printed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from conftest import (
    API_KEY,
    WAREHOUSES,
    Project,
    assert_generated_delivered,
    each_warehouse,
    generated_project,
    logic_on_duckdb,
    users_and_events_project,
)

from dbt_braze.braze import BrazeClient
from dbt_braze.emulator import Faults
from dbt_braze.errors import BrazeUnavailable

warehouse = pytest.fixture(params=WAREHOUSES)(each_warehouse)


def _event_ids(project: Project) -> Counter[int]:
    return Counter(
        e["properties"]["n"]
        for r in project.emulator.track_requests
        for e in r.body["events"]
        if r.body and "events" in r.body
    )


def _delivered_rows(project: Project, model: str) -> int:
    (count,) = project.sql(f"select count(*) from {project.state_table(model)}")[0]
    return int(count)


# ------------------------------------------------------------------ never lost: only real acks


@logic_on_duckdb
@pytest.mark.parametrize(
    "body",
    ["<html><body>Please sign in to the network</body></html>", '{"status": "ok"}'],
    ids=["captive-portal", "json-without-message"],
)
def test_an_answer_that_is_not_brazes_records_nothing_and_stops(
    project: Project, body: str
) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(status_override=200, body_override=body))

    run = project.sync("--max-retries", "2")

    assert run.returncode == 3, run.output
    assert "without Braze's answer" in run.output
    assert _delivered_rows(project, "gen_users") == 0
    assert _delivered_rows(project, "gen_events") == 0
    assert run.model("gen_users")["status"] == "aborted"
    logged = project.sql(f"select distinct status from {project.state_schema}.braze_sync_runs")
    assert logged == [("aborted",)]  # never `success` for a run that failed

    project.emulator.set_faults(Faults())
    assert project.sync().returncode == 0
    assert_generated_delivered(project.emulator)


# ------------------------------------------------------------------- sent at most twice a run


def test_no_object_is_sent_more_than_twice_in_one_run(project: Project) -> None:
    project = generated_project(project)
    project.emulator.set_faults(Faults(lose_response_every=1))  # Braze applies, answer is lost

    run = project.sync("--concurrency", "4")

    assert run.returncode == 3, run.output
    assert "twice for the same objects" in run.output
    counts = _event_ids(project)
    assert counts and max(counts.values()) == 2
    assert _delivered_rows(project, "gen_events") == 0  # nothing was acknowledged


# ------------------------------------------------------------------------------- never printed


@logic_on_duckdb
def test_a_key_with_a_trailing_newline_works(project: Project) -> None:
    project = users_and_events_project(project)
    project.emulator.set_faults(Faults())

    run = project.sync(env={"BRAZE_API_KEY": f"  {API_KEY}\n"})

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="c1") is not None


@pytest.mark.parametrize("warehouse", ["duckdb"])
@pytest.mark.parametrize(
    "key", [f"{API_KEY[:8]}\n{API_KEY[8:]}", f"{API_KEY[:8]} {API_KEY[8:]}", f"{API_KEY}\x07"]
)
def test_a_key_with_inner_whitespace_or_control_characters_is_refused_unseen(
    project: Project, key: str
) -> None:
    project = users_and_events_project(project)

    run = project.sync(env={"BRAZE_API_KEY": key}, subprocess_=True)

    assert run.returncode == 2, run.output
    assert "BRAZE_API_KEY holds whitespace, control or non-ASCII characters" in run.output
    for part in (API_KEY[:8], API_KEY[8:]):
        assert part not in run.output
        assert part not in json.dumps(run.results)
    assert "Traceback" not in run.output
    assert project.emulator.requests == []


@pytest.mark.parametrize("warehouse", ["duckdb"])
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_unexpected_error_is_one_line_and_the_key_is_never_shown(
    project: Project, debug: bool
) -> None:
    project = users_and_events_project(project)
    manifest = project.root / "target" / "manifest.json"
    body = json.loads(manifest.read_text())
    body["nodes"] = [API_KEY]  # valid JSON that no dbt writes, quoting the key
    manifest.write_text(json.dumps(body))

    run = project.sync(*(["--debug"] if debug else []), subprocess_=True)

    assert run.returncode == 3, run.output
    assert "Error: unexpected error: AttributeError" in run.output
    assert API_KEY not in run.output
    assert ("Traceback" in run.output) is debug
    assert run.results is not None and run.results["exit_code"] == 3
    assert API_KEY not in json.dumps(run.results)


@pytest.fixture
def proxy() -> Iterator[list[bytes]]:
    """A would-be HTTP proxy on loopback that records whatever reaches it."""
    received: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    received.append(connection.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    received.append(str(server.getsockname()[1]).encode())
    yield received
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_a_loopback_endpoint_never_goes_through_a_proxy(
    project: Project, proxy: list[bytes]
) -> None:
    project = users_and_events_project(project)
    address = f"http://127.0.0.1:{int(proxy.pop(0))}"
    env = {name: address for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY")}

    run = project.sync(env=env)

    assert run.returncode == 0, run.output
    assert proxy == []  # nothing, least of all the key, went to the proxy
    assert project.emulator.user_attributes(external_id="c1") is not None


# ------------------------------------------------------------------------- honest records


@pytest.mark.parametrize("warehouse", ["duckdb"])
def test_a_configuration_error_still_writes_the_results_file_with_every_problem(
    project: Project,
) -> None:
    project = users_and_events_project(project)
    body = json.loads((project.root / "target" / "manifest.json").read_text())
    for node in body["nodes"].values():
        braze = node.get("config", {}).get("meta", {}).get("braze")
        if braze:
            braze["colour"] = "blue"
    (project.root / "target" / "manifest.json").write_text(json.dumps(body))

    run = project.sync()

    assert run.returncode == 2, run.output
    assert run.results is not None
    assert run.results["exit_code"] == 2
    assert run.results["message"] == "2 configuration problem(s)"
    assert sorted(run.results["problems"]) == [
        "braze_events: meta.braze.colour: unknown key for object `events`; expected one of "
        "`object`, `identifier`, `event_id`, `name`, `time`, `properties`, `mode`, `lookback`, "
        "`renamed_from`, `max_data_points`",
        "braze_users: meta.braze.colour: unknown key for object `users`; expected one of "
        "`object`, `identifier`, `attributes`, `exclude`, `mode`, `on_delete`, `renamed_from`, "
        "`subscription_groups`, `max_data_points`",
    ]


def test_a_remote_endpoint_goes_through_the_environments_proxy_with_its_credentials(
    proxy: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `.invalid` never resolves: nothing can leave the machine, whatever happens.
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://someone:p%40ss@127.0.0.1:{int(proxy.pop(0))}")
    client = BrazeClient("https://rest.braze.invalid", API_KEY, connect_timeout=2, read_timeout=2)

    with pytest.raises(BrazeUnavailable):
        client.catalogs()  # the would-be proxy hangs up after reading the request

    (request,) = proxy
    assert request.startswith(b"CONNECT rest.braze.invalid:443 HTTP/1.")
    credentials = base64.b64encode(b"someone:p@ss")
    assert b"\r\nProxy-Authorization: Basic " + credentials + b"\r\n" in request
    assert API_KEY.encode() not in request  # the key travels only inside the TLS tunnel
