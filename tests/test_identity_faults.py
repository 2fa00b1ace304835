"""Identity changes and message triggers through Braze's faults, end to end through the CLI to
the emulator (kinds/identities.py, kinds/triggers.py, delivery.py): a 429 is waited out and
every row still goes once; retries spent stop the run with what was acknowledged recorded and
nothing else; a lost answer is sent at most once more in the run (identity changes, which Braze
may take twice) or not again (messages); a kill -9 mid-run loses no message and resends only
what was in flight."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from conftest import API_KEY, Project, built
from test_crash import _wait_until

from dbt_braze.emulator import Emulator, Faults
from dbt_braze.emulator.core import RecordedRequest

ROWS = 60  # two requests of each kind (50 items a request)
LABEL = "amplitude"


def _seed(emulator: Emulator, objects: list[dict[str, Any]]) -> None:
    """Profiles Braze holds before the run, made over HTTP as any client would."""
    for start in range(0, len(objects), 75):
        answer = requests.post(
            f"{emulator.url}/users/track",
            json={"attributes": objects[start : start + 75]},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text


@dataclass(frozen=True)
class Kind:
    """One kind of model under faults: its rows (i from 0 to ROWS - 1), what Braze holds
    before, how a request's item names its row, and whether Braze applied row i."""

    name: str
    path: str
    array: str
    meta: dict[str, Any]
    select: str  # the model's columns, of i
    seed: Callable[[Emulator, int], None]
    key: Callable[[dict[str, Any]], str]
    row: Callable[[int], str]  # the key of row i
    applied: Callable[[Emulator, int], bool]
    args: tuple[str, ...] = field(default=())  # what a first sync needs


def _aliases(emulator: Emulator, n: int) -> None:
    _seed(
        emulator,
        [
            {
                "user_alias": {"alias_name": f"a{i}", "alias_label": LABEL},
                "_update_existing_only": False,
                "plan": "pro",
            }
            for i in range(n)
        ],
    )


def _external_ids(*prefixes: str) -> Callable[[Emulator, int], None]:
    def seed(emulator: Emulator, n: int) -> None:
        _seed(emulator, [{"external_id": f"{p}{i}", "plan": p} for p in prefixes for i in range(n)])

    return seed


def _identified(emulator: Emulator, i: int) -> bool:
    profile = emulator.find_profile(alias=(f"a{i}", LABEL))
    return profile is not None and profile["external_id"] == f"u{i}"


def _renamed(emulator: Emulator, i: int) -> bool:
    return emulator.deprecated_external_ids.get(f"o{i}") == f"n{i}"


def _renamed_already(emulator: Emulator, n: int) -> None:
    """Users n0, n1, ... that were o0, o1, ...: the o ids are deprecated ones."""
    _external_ids("o")(emulator, n)
    for start in range(0, n, 50):
        answer = requests.post(
            f"{emulator.url}/users/external_ids/rename",
            json={
                "external_id_renames": [
                    {"current_external_id": f"o{i}", "new_external_id": f"n{i}"}
                    for i in range(start, min(n, start + 50))
                ]
            },
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert answer.status_code == 201 and not answer.json()["rename_errors"], answer.text


def _removed(emulator: Emulator, i: int) -> bool:
    return f"o{i}" not in emulator.deprecated_external_ids


def _merged(emulator: Emulator, i: int) -> bool:
    return (
        emulator.find_profile(external_id=f"d{i}") is None
        and emulator.find_profile(external_id=f"k{i}") is not None
    )


def _messaged(emulator: Emulator, i: int) -> bool:
    return any(t["recipient"]["external_user_id"] == f"u{i}" for t in emulator.triggers)


def _canvas(emulator: Emulator, n: int) -> None:
    emulator.create_canvas("canvas-faults")
    _external_ids("u")(emulator, n)


IDENTIFY = Kind(
    "identities",
    "/users/identify",
    "aliases_to_identify",
    {
        "object": "identify",
        "identifier": {"user_alias": {"alias_name": "anon_id", "alias_label": LABEL}},
        "external_id": "user_id",
    },
    "'a' || i as anon_id, 'u' || i as user_id",
    _aliases,
    lambda item: item["user_alias"]["alias_name"],
    lambda i: f"a{i}",
    _identified,
)
RENAME = Kind(
    "renames",
    "/users/external_ids/rename",
    "external_id_renames",
    {
        "object": "external_id_renames",
        "identifier": {"external_id": "old_id"},
        "new_external_id": "new_id",
    },
    "'o' || i as old_id, 'n' || i as new_id",
    _external_ids("o"),
    lambda item: item["current_external_id"],
    lambda i: f"o{i}",
    _renamed,
)
REMOVAL = Kind(
    "removals",
    "/users/external_ids/remove",
    "external_ids",
    {"object": "external_id_removals", "identifier": {"external_id": "old_id"}},
    "'o' || i as old_id",
    _renamed_already,
    lambda item: item,  # type: ignore[arg-type,return-value]  # a removal is the id itself
    lambda i: f"o{i}",
    _removed,
)
MERGE = Kind(
    "merges",
    "/users/merge",
    "merge_updates",
    {
        "object": "merges",
        "identifier": {"external_id": "duplicate_id"},
        "keep": {"external_id": "user_id"},
    },
    "'d' || i as duplicate_id, 'k' || i as user_id",
    _external_ids("d", "k"),
    lambda item: item["identifier_to_merge"]["external_id"],
    lambda i: f"d{i}",
    _merged,
)
CANVAS = Kind(
    "welcome",
    "/canvas/trigger/send",
    "recipients",
    {
        "object": "canvas_trigger",
        "canvas_id": "canvas-faults",
        "trigger_id": "message_key",
        "identifier": {"external_id": "user_id"},
        "properties": {"n": "n"},
        "max_messages": 2000,
    },
    "'m' || i as message_key, 'u' || i as user_id, i as n",
    _canvas,
    lambda item: item["external_user_id"],
    lambda i: f"u{i}",
    _messaged,
    ("--send-existing",),
)
KINDS = [IDENTIFY, RENAME, MERGE, CANVAS]


def _project(project: Project, kind: Kind, rows: int = ROWS) -> Project:
    """The kind's model of `rows` rows, built once per session; Braze holding its users."""

    def setup(template: Project) -> None:
        template.model(
            kind.name, f"select {kind.select} from generate_series(0, {rows - 1}) t(i)", kind.meta
        )

    project = built(f"faults_{kind.name}_{rows}", project, setup)
    kind.seed(project.emulator, rows)
    return project


def _requests(emulator: Emulator, kind: Kind) -> list[RecordedRequest]:
    return [r for r in emulator.requests if r.path == kind.path]


def _sent(kind: Kind, requests_: list[RecordedRequest]) -> Counter[str]:
    """How many times each row reached Braze: in requests it processed (a lost answer
    included: Braze processed it, the answer never arrived)."""
    return Counter(
        kind.key(item)
        for r in requests_
        if 200 <= r.status < 300
        for item in (r.body or {}).get(kind.array, [])
    )


def _assert_all_applied_once(project: Project, kind: Kind, rows: int = ROWS) -> None:
    sent = _sent(kind, _requests(project.emulator, kind))
    assert sent == Counter({kind.row(i): 1 for i in range(rows)})
    assert [i for i in range(rows) if not kind.applied(project.emulator, i)] == []


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_429_is_waited_out_and_each_row_is_sent_once_and_recorded(
    project: Project, kind: Kind
) -> None:
    project = _project(project, kind)
    # The second request to the kind's endpoint is answered 429 (Retry-After 1).
    project.emulator.set_faults(Faults(throttle_every=2, fault_paths=frozenset({kind.path})))

    run = project.sync(*kind.args)

    assert run.returncode == 0, run.output
    statuses = [r.status for r in _requests(project.emulator, kind)]
    assert statuses.count(429) == 1 and len(statuses) == 3, statuses
    assert run.model(kind.name)["rate_limited"] == 1
    assert run.model(kind.name)["objects_sent"] == ROWS
    _assert_all_applied_once(project, kind)
    # Recorded: the next run sends nothing.
    project.emulator.set_faults(Faults())
    assert project.sync().model(kind.name)["objects_sent"] == 0
    assert len(_requests(project.emulator, kind)) == 3


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_5xx_beyond_the_retries_stop_the_run_and_the_next_sends_the_rest_once(
    project: Project, kind: Kind
) -> None:
    project = _project(project, kind)
    # One request at a time: the first is answered, the second meets a 503 with no retry left.
    project.emulator.set_faults(Faults(error_every=2, fault_paths=frozenset({kind.path})))

    run = project.sync("--concurrency", "1", "--max-retries", "0", *kind.args)

    assert run.returncode == 3, run.output
    assert "503" in run.output
    first = _sent(kind, _requests(project.emulator, kind))
    assert 0 < len(first) < ROWS  # one request acknowledged, one not
    assert run.model(kind.name)["objects_sent"] == len(first)

    project.emulator.set_faults(Faults())
    rerun = project.sync()

    assert rerun.returncode == 0, rerun.output
    # What was acknowledged was recorded and is not sent again; what was not, was not recorded
    # and goes now: each row reached Braze exactly once over the two runs.
    assert rerun.model(kind.name)["objects_sent"] == ROWS - len(first)
    _assert_all_applied_once(project, kind)


@pytest.mark.parametrize("kind", [IDENTIFY, MERGE], ids=lambda k: k.name)
def test_a_lost_answer_to_an_identity_change_is_sent_once_more_and_recorded(
    project: Project, kind: Kind
) -> None:
    """Braze may have applied a request whose answer was lost: it is sent once more, as any
    request (docs/guarantees.md, "Sent at most twice in one run"). Identifying an alias Braze
    identified already, or merging a user merged away already, changes nothing, so the second
    send is harmless and acknowledged."""
    project = _project(project, kind)
    # One request at a time: the second is processed, its answer lost; its resend answered.
    project.emulator.set_faults(Faults(lose_response_every=2, fault_paths=frozenset({kind.path})))

    run = project.sync("--concurrency", "1")

    assert run.returncode == 0, run.output
    first, lost, again = _requests(project.emulator, kind)
    assert lost.response_lost and not again.response_lost and again.body == lost.body
    sent = _sent(kind, [first, lost, again])
    twice = {key for key, n in sent.items() if n == 2}
    assert set(sent) == {kind.row(i) for i in range(ROWS)} and max(sent.values()) == 2
    assert twice == {kind.key(item) for item in lost.body[kind.array]}  # type: ignore[index]
    assert [i for i in range(ROWS) if not kind.applied(project.emulator, i)] == []
    project.emulator.set_faults(Faults())
    assert project.sync().model(kind.name)["objects_sent"] == 0


@pytest.mark.parametrize("kind", [RENAME, REMOVAL], ids=lambda k: k.name)
def test_a_lost_answer_to_a_rename_is_sent_once_more_and_recorded(
    project: Project, kind: Kind
) -> None:
    """A rename (or a removal) Braze applied already is refused when sent again (its current id
    is now a deprecated one, post_external_ids_rename.md; the removed id is none): Braze is asked
    whether it holds what was asked, and the row recorded, or the users models would never
    follow the rename."""
    project = _project(project, kind)
    project.emulator.set_faults(Faults(lose_response_every=2, fault_paths=frozenset({kind.path})))

    run = project.sync("--concurrency", "1")

    _, lost, again = _requests(project.emulator, kind)
    assert lost.response_lost and again.body == lost.body
    assert [i for i in range(ROWS) if not kind.applied(project.emulator, i)] == []
    assert run.returncode == 0, run.output
    project.emulator.set_faults(Faults())
    assert project.sync().model(kind.name)["objects_sent"] == 0


def test_sigkill_mid_trigger_run_then_rerun_loses_no_message_and_resends_only_what_was_in_flight(
    project: Project,
) -> None:
    rows = 1000  # 20 requests of 50 recipients
    kind = CANVAS
    project = _project(project, kind, rows)
    project.emulator.set_faults(Faults(latency_ms=400))
    process = project.start_sync("--concurrency", "3", *kind.args)
    # As in test_crash.py: by request 13 some acknowledgements are committed, whatever the load.
    _wait_until(lambda: len(_requests(project.emulator, kind)) >= 13)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    _wait_until(lambda: project.emulator.open_connections == 0)
    received_before = set(_sent(kind, _requests(project.emulator, kind)))
    committed = {
        f"u{object_id[1:]}"
        for (object_id,) in project.sql(f"select object_id from {project.state_table(kind.name)}")
    }
    assert 0 < len(committed) < rows  # killed mid-run, after some commits
    assert committed <= received_before

    project.emulator.set_faults(Faults())
    rerun = project.sync()  # the choice to send the existing rows was made once, already

    assert rerun.returncode == 0, rerun.output
    messages = Counter(t["recipient"]["external_user_id"] for t in project.emulator.triggers)
    assert set(messages) == {f"u{i}" for i in range(rows)}  # none lost
    duplicated = {user for user, n in messages.items() if n > 1}
    # Only messages Braze sent whose acknowledgement was not recorded: in flight at the kill,
    # at most the requests in flight plus 0.2 s of acknowledgements (docs/guarantees.md).
    in_flight = received_before - committed
    assert duplicated <= in_flight
    assert len(in_flight) <= (3 + 3) * 50
    assert max(messages.values()) <= 2
    assert project.sync().model(kind.name)["objects_sent"] == 0
