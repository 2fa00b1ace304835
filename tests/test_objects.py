"""Every Braze object, identifier, mode, on_delete behaviour and value type, checked in what
the emulator stored."""

from __future__ import annotations

import pytest
import requests
from conftest import API_KEY, Project, built

from dbt_braze.emulator import Emulator


def _users_seed(n: int) -> str:
    rows = "\n".join(f"u{i},plan-{i % 3},{i}" for i in range(n))
    return "user_id,plan,score\n" + rows + "\n"


def _users_project(on_delete: str, n: int):  # type: ignore[no-untyped-def]
    def setup(project: Project) -> None:
        project.write("seeds/seed_people.csv", _users_seed(n))
        project.model(
            "people",
            "select * from {{ ref('seed_people') }}",
            {"object": "users", "identifier": {"external_id": "user_id"}, "on_delete": on_delete},
        )

    return setup


def _track_bodies(emulator: Emulator, start: int = 0) -> list[dict]:
    return [r.body or {} for r in emulator.track_requests[start:]]


# ------------------------------------------------------------------------------ purchases


def _shop(project: Project) -> None:
    project.write("seeds/seed_customers.csv", "user_id,tier\nu1,gold\nu2,silver\n")
    project.write(
        "seeds/order_lines.csv",
        "line_id,user_id,sku,currency,unit_price,qty,bought_at,coupon\n"
        "l1,u1,sku-1,usd,9.99,2,2026-11-01 10:00:00,WELCOME\n"
        "l2,u2,sku-2,EUR,100.00,1,2026-11-02 11:00:00,\n",
    )
    project.model(
        "customers",
        "select * from {{ ref('seed_customers') }}",
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )
    project.model(
        "purchases",
        "select * from {{ ref('order_lines') }}",
        {
            "object": "purchases",
            "identifier": {"external_id": "user_id"},
            "purchase_id": "line_id",
            "product_id": "sku",
            "currency": "currency",
            "price": "unit_price",
            "quantity": "qty",
            "time": "bought_at",
            "properties": {"coupon": "coupon"},
        },
    )


def test_purchases_travel_with_the_users_attributes_and_are_sent_once_ever(
    project: Project,
) -> None:
    project = built("shop", project, _shop)

    run = project.sync()

    assert run.returncode == 0, run.output
    (body,) = _track_bodies(project.emulator)
    assert len(body["attributes"]) == 2 and len(body["purchases"]) == 2
    first = next(p for p in body["purchases"] if p["external_id"] == "u1")
    assert first == {
        "external_id": "u1",
        "product_id": "sku-1",
        "currency": "USD",
        "price": 9.99,
        "quantity": 2,
        "time": "2026-11-01T10:00:00Z",
        "properties": {"coupon": "WELCOME"},
    }
    assert run.model("purchases")["data_points"] == 3  # a quantity of 2 counts twice

    project.sql(
        "insert into order_lines values ('l3', 'u1', 'sku-3', 'USD', 5, 1, '2026-11-03 09:00:00', null)"
    )
    before = len(project.emulator.track_requests)
    assert project.sync().returncode == 0
    (body,) = _track_bodies(project.emulator, before)
    assert [p["product_id"] for p in body["purchases"]] == ["sku-3"]
    assert "attributes" not in body
    assert project.sync().returncode == 0
    assert len(project.emulator.purchases) == 3


# ---------------------------------------------------------------------------- identifiers


def test_user_alias_creates_alias_only_profiles(project: Project) -> None:
    def setup(p: Project) -> None:
        p.write("seeds/seed_visitors.csv", "anon_id,landing_page\nanon-1,/pricing\nanon-2,/docs\n")
        p.model(
            "visitors",
            "select * from {{ ref('seed_visitors') }}",
            {
                "object": "users",
                "identifier": {"user_alias": {"alias_name": "anon_id", "alias_label": "web"}},
            },
        )

    project = built("aliases", project, setup)

    run = project.sync()

    assert run.returncode == 0, run.output
    profile = project.emulator.find_profile(alias=("anon-1", "web"))
    assert profile is not None and profile["external_id"] is None
    assert profile["attributes"] == {"landing_page": "/pricing"}
    (body,) = _track_bodies(project.emulator)
    assert body["attributes"][0]["_update_existing_only"] is False


def _existing_profiles(emulator: Emulator, *external_ids: str) -> list[str]:
    """Profiles created in Braze by someone else; their braze_ids."""
    response = requests.post(
        f"{emulator.url}/users/track",
        json={"attributes": [{"external_id": e, "source": "crm"} for e in external_ids]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 201
    return [emulator.find_profile(external_id=e)["braze_id"] for e in external_ids]


def test_braze_id_updates_existing_profiles_and_never_creates(project: Project) -> None:
    (known,) = _existing_profiles(project.emulator, "crm-1")
    project.write("seeds/seed_scores.csv", f"bid,score\n{known},42\n000000000000000000000999,7\n")
    project.model(
        "scores",
        "select * from {{ ref('seed_scores') }}",
        {"object": "users", "identifier": {"braze_id": "bid"}},
    )
    project.build()

    run = project.sync()

    assert run.returncode == 1, run.output  # Braze refuses the unknown braze_id
    assert project.emulator.user_attributes(external_id="crm-1") == {"source": "crm", "score": 42}
    assert len(project.emulator.profiles) == 1
    (reason,) = project.sql("select reason from main_dbt_braze.braze_rejections")[0]
    assert "braze_id" in reason


def test_email_and_phone_identifiers_and_their_local_validation(project: Project) -> None:
    def setup(p: Project) -> None:
        leads = (
            "select * from (values ('ada@example.com', '+14155550100', 'ads'), "
            "('not-an-email', '12', 'ads')) t(email, phone, source)"
        )
        p.model(
            "by_email",
            f"select email, source from ({leads})",
            {"object": "users", "identifier": {"email": "email"}},
        )
        p.model(
            "by_phone",
            f"select phone, source as channel from ({leads})",
            {"object": "users", "identifier": {"phone": "phone"}},
        )

    project = built("leads", project, setup)

    run = project.sync()

    assert run.returncode == 1, run.output
    by_email = project.emulator.find_profile(email="ada@example.com")
    assert by_email is not None and by_email["attributes"]["source"] == "ads"
    by_phone = project.emulator.find_profile(phone="+14155550100")
    assert by_phone is not None and by_phone["attributes"]["channel"] == "ads"
    reasons = sorted(
        r for (r,) in project.sql("select reason from main_dbt_braze.braze_rejections")
    )
    assert reasons == [
        "email 'not-an-email' is not an email address",
        "phone '12' is not a phone number (E.164, e.g. +14155550100)",
    ]


def test_update_only_mode_updates_existing_users_and_creates_none(project: Project) -> None:
    _existing_profiles(project.emulator, "u1")
    project.write("seeds/seed_people.csv", _users_seed(3))
    project.model(
        "people",
        "select * from {{ ref('seed_people') }}",
        {"object": "users", "identifier": {"external_id": "user_id"}, "mode": "update_only"},
    )
    project.build()

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="u1") == {
        "source": "crm",
        "plan": "plan-1",
        "score": 1,
    }
    assert project.emulator.find_profile(external_id="u0") is None
    assert all(
        o["_update_existing_only"] is True
        for b in _track_bodies(project.emulator, 1)  # after the setup's own request
        for o in b["attributes"]
    )


# ------------------------------------------------------------------------------ on_delete


def test_on_delete_unset_sends_null_for_what_was_delivered_then_forgets_the_user(
    project: Project,
) -> None:
    project = built("unset", project, _users_project("unset", 20))
    assert project.sync().returncode == 0
    project.sql("update seed_people set plan = null where user_id = 'u3'")
    assert project.sync().returncode == 0
    before = len(project.emulator.track_requests)

    project.sql("delete from seed_people where user_id in ('u2', 'u3')")
    run = project.sync()

    assert run.returncode == 0, run.output
    (body,) = _track_bodies(project.emulator, before)
    sent = sorted(body["attributes"], key=lambda o: o["external_id"])
    assert sent == [
        {"external_id": "u2", "plan": None, "score": None, "_update_existing_only": True},
        {
            "external_id": "u3",
            "score": None,
            "_update_existing_only": True,
        },  # plan was unset already
    ]
    assert project.emulator.user_attributes(external_id="u2") == {}
    assert run.model("people")["rows_deleted"] == 2
    # Forgotten: nothing more is sent for them; coming back, they are new again.
    assert project.sync().returncode == 0 and len(project.emulator.track_requests) == before + 1
    project.sql("insert into seed_people values ('u2', 'plan-2', 2)")
    back = project.sync()
    assert back.model("people")["rows_new"] == 1


def test_on_delete_delete_calls_users_delete_at_most_50_per_request(project: Project) -> None:
    project = built("delete", project, _users_project("delete", 300))
    assert project.sync().returncode == 0

    project.sql("delete from seed_people where score >= 240")  # 60 users, exactly 20%
    run = project.sync()

    assert run.returncode == 0, run.output
    deletes = [r for r in project.emulator.requests if r.path == "/users/delete"]
    assert sorted(len(r.body["external_ids"]) for r in deletes) == [10, 50]
    assert project.emulator.find_profile(external_id="u250") is None
    assert project.emulator.find_profile(external_id="u10") is not None
    assert run.model("people")["data_points"] == 0
    assert project.sync().returncode == 0
    assert len([r for r in project.emulator.requests if r.path == "/users/delete"]) == 2


def test_the_large_delete_guard_stops_the_model_unless_allowed(project: Project) -> None:
    project = built("guard", project, _users_project("delete", 100))
    assert project.sync().returncode == 0
    project.sql("delete from seed_people where score < 25")  # 25%: over the 20% guard
    before = len(project.emulator.data_requests)

    stopped = project.sync()

    assert stopped.returncode == 3, stopped.output
    assert "would delete 25 of the 100 users" in stopped.output
    assert "--allow-large-deletes" in stopped.output
    assert len(project.emulator.data_requests) == before
    assert stopped.model("people")["status"] == "aborted"

    allowed = project.sync("--allow-large-deletes")

    assert allowed.returncode == 0, allowed.output
    assert project.emulator.find_profile(external_id="u0") is None
    assert len(project.emulator.profiles) == 75


def test_the_guard_ignores_small_numbers(project: Project) -> None:
    project = built("guard_small", project, _users_project("unset", 20))
    assert project.sync().returncode == 0
    project.sql("delete from seed_people where score < 10")  # half, but only 10 users

    run = project.sync()

    assert run.returncode == 0, run.output
    assert run.model("people")["rows_deleted"] == 10


# ------------------------------------------------------------------------------ values


def _values(project: Project) -> None:
    project.model(
        "typed",
        """
        select
          'u1' as user_id,
          'Zoë 👩‍🚀 日本' as unicode_text,
          42 as small_int,
          9007199254740993::bigint as big_int,
          170141183460469231731687303715884105727::hugeint as huge_int,
          1234.50::decimal(12, 2) as money,
          0.1::double as ratio,
          true as flag,
          date '2024-02-29' as leap_day,
          timestamp '2026-11-30 08:15:30.123456' as naive_ts,
          timestamptz '2026-11-30 10:15:30+02:00' as zoned_ts,
          [1, 2, 3] as numbers,
          ['a', 'b'] as words,
          {'city': 'Paris', 'since': date '2020-01-01', 'geo': {'lat': 48.85}} as address,
          map(['k1', 'k2'], [10, 20]) as counters,
          '{"nested": {"ok": true}, "list": [1, "two"]}'::json as doc
        """,
        {"object": "users", "identifier": {"external_id": "user_id"}},
    )


def test_every_value_type_arrives_as_braze_expects(project: Project) -> None:
    project = built("values", project, _values)

    run = project.sync()

    assert run.returncode == 0, run.output
    assert project.emulator.user_attributes(external_id="u1") == {
        "unicode_text": "Zoë 👩‍🚀 日本",
        "small_int": 42,
        "big_int": 9007199254740993,
        "huge_int": 170141183460469231731687303715884105727,
        "money": 1234.5,
        "ratio": 0.1,
        "flag": True,
        "leap_day": "2024-02-29",
        "naive_ts": "2026-11-30T08:15:30.123456Z",
        "zoned_ts": "2026-11-30T08:15:30Z",
        "numbers": [1, 2, 3],
        "words": ["a", "b"],
        "address": {"city": "Paris", "since": {"$time": "2020-01-01"}, "geo": {"lat": 48.85}},
        "counters": {"k1": 10, "k2": 20},
        "doc": {"nested": {"ok": True}, "list": [1, "two"]},
    }
    assert project.sync().returncode == 0
    assert len(project.emulator.track_requests) == 1  # every type compares equal to itself


def test_values_over_brazes_limits_are_rejected_not_truncated(project: Project) -> None:
    def setup(p: Project) -> None:
        p.model(
            "limits",
            """
            select 'ok' as user_id, 'x' as s, [1] as a
            union all select 'long_text', repeat('x', 256), [1]
            union all select 'long_array', 'x', range(501)
            """,
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )

    project = built("limits", project, setup)

    run = project.sync()

    assert run.returncode == 1, run.output
    reasons = dict(project.sql("select identifier, reason from main_dbt_braze.braze_rejections"))
    assert "256 characters" in reasons["long_text"]
    assert "501 items" in reasons["long_array"]
    assert project.emulator.user_attributes(external_id="ok") == {"s": "x", "a": [1]}


# --------------------------------------------------------------------------- duplicates


def test_duplicate_identifiers_stop_that_model_and_others_still_sync(project: Project) -> None:
    def setup(p: Project) -> None:
        p.model(
            "dupes",
            "select * from (values ('u1', 1), ('u1', 2), ('u2', 3), ('u2', 4), ('u3', 5)) t(user_id, n)",
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )
        p.model(
            "dupe_events",
            "select * from (values ('e1', 'u1', 'x', timestamp '2026-01-01'), ('e1', 'u1', 'x', timestamp '2026-01-02')) t(event_id, user_id, name, occurred_at)",
            {
                "object": "events",
                "identifier": {"external_id": "user_id"},
                "event_id": "event_id",
                "name": "name",
                "time": "occurred_at",
            },
        )
        p.model(
            "fine",
            "select 'u9' as user_id, 1 as n",
            {"object": "users", "identifier": {"external_id": "user_id"}},
        )

    project = built("dupes", project, setup)

    run = project.sync()

    assert run.returncode == 1, run.output
    assert (
        "dupes: duplicate identifier values, nothing sent for this model: 'u1' (2 rows), 'u2' (2 rows)"
        in run.output
    )
    assert "dupe_events: duplicate event_id values" in run.output and "'e1' (2 rows)" in run.output
    assert run.model("dupes")["status"] == "failed"
    assert project.emulator.find_profile(external_id="u1") is None
    assert project.emulator.user_attributes(external_id="u9") == {"n": 1}


# ------------------------------------------------------------------------ mapping changes


def _mapped(project: Project, attributes: dict[str, str], identifier: str = "user_id") -> None:
    project.model(
        "people",
        "select * from {{ ref('seed_people') }}",
        {"object": "users", "identifier": {"external_id": identifier}, "attributes": attributes},
    )


def test_mapping_changes_send_only_what_they_must(project: Project) -> None:
    def setup(p: Project) -> None:
        p.write(
            "seeds/seed_people.csv", "user_id,email,plan,score\nu1,a@x.io,pro,1\nu2,b@x.io,free,\n"
        )
        _mapped(p, {"plan": "plan"})

    project = built("mapping", project, setup)
    assert project.sync().returncode == 0

    # An attribute added to the mapping is sent, once, for every user that has a value.
    _mapped(project, {"plan": "plan", "score": "score"})
    project.dbt("parse")
    before = len(project.emulator.track_requests)
    assert project.sync().returncode == 0
    (body,) = _track_bodies(project.emulator, before)
    assert body == {"attributes": [{"external_id": "u1", "score": 1}]}
    assert project.sync().returncode == 0 and len(project.emulator.track_requests) == before + 1

    # An attribute removed is no longer compared or sent, and not unset either.
    _mapped(project, {"score": "score"})
    project.dbt("parse")
    project.sql("update seed_people set plan = 'enterprise'")
    assert project.sync().returncode == 0
    assert len(project.emulator.track_requests) == before + 1
    assert project.emulator.user_attributes(external_id="u1")["plan"] == "pro"

    # A new identifier is a new sync: said clearly, nothing sent, until --full-refresh.
    _mapped(project, {"score": "score"}, identifier="email")
    project.dbt("parse")
    changed = project.sync()
    assert changed.returncode == 2, changed.output
    assert (
        "identifier: changed from `external_id: user_id [text]` to `external_id: email [text]`"
        in changed.output
    )
    assert "--select people --full-refresh`" in changed.output
    assert len(project.emulator.track_requests) == before + 1
    refreshed = project.sync("--full-refresh")
    assert refreshed.returncode == 0, refreshed.output
    assert project.emulator.user_attributes(external_id="a@x.io") == {"score": 1}


# ------------------------------------------------------------------------------ lookback


def test_lookback_considers_only_events_newer_than_the_last_delivered_less_the_lookback(
    project: Project,
) -> None:
    def setup(p: Project) -> None:
        p.write(
            "seeds/seed_events.csv",
            "event_id,user_id,event_name,occurred_at\n"
            "e1,u1,visit,2026-11-20 10:00:00\n"
            "e2,u1,visit,2026-11-28 10:00:00\n",
        )
        p.model(
            "visits",
            "select * from {{ ref('seed_events') }}",
            {
                "object": "events",
                "identifier": {"external_id": "user_id"},
                "event_id": "event_id",
                "name": "event_name",
                "time": "occurred_at",
                "lookback": "2 days",
            },
        )

    project = built("lookback", project, setup)
    assert project.sync().returncode == 0
    assert len(project.emulator.events) == 2

    # Late arrivals: one within two days of the latest delivered event, one older.
    project.sql("insert into seed_events values ('e3', 'u1', 'visit', '2026-11-27 09:00:00')")
    project.sql("insert into seed_events values ('e4', 'u1', 'visit', '2026-11-25 09:00:00')")
    run = project.sync()

    assert run.returncode == 0, run.output
    assert sorted(e["time"] for e in project.emulator.events) == [
        "2026-11-20T10:00:00Z",
        "2026-11-27T09:00:00Z",
        "2026-11-28T10:00:00Z",
    ]
    assert run.model("visits")["rows_new"] == 1


# ----------------------------------------------------------------------- subscriptions

NEWSLETTER = "3f2e7a90-6c1d-4d8e-9a6b-0c5d1e2f3a4b"
SMS = "8b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"


def _subscriptions(project: Project) -> None:
    project.model(
        "subscriber_rows",
        "{{ config(materialized='table') }} "
        "select * from (values ('s1', 'opted_in', 'subscribed', true), "
        "('s2', 'unsubscribed', 'unsubscribed', false), ('s3', 'subscribed', null, null)) "
        "t(user_id, email_subscribe, newsletter, sms)",
        None,
    )
    project.model(
        "subscribers",
        "select * from {{ ref('subscriber_rows') }}",
        {
            "object": "users",
            "identifier": {"external_id": "user_id"},
            "attributes": {"email_subscribe": "email_subscribe"},
            "subscription_groups": {NEWSLETTER: "newsletter", SMS: "sms"},
        },
    )


# Subscription states on DuckDB and PostgreSQL: on Snowflake their SQL is the attribute state's,
# which every Snowflake sync runs (no macro of theirs is reached by these tests alone).
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_subscription_groups_and_states_are_sent_only_when_they_change(project: Project) -> None:
    project = built("subscriptions", project, _subscriptions)
    for group in (NEWSLETTER, SMS):
        project.emulator.add_subscription_group(group)
    plan = project.sync("--dry-run")
    assert f'"subscription_groups": [{{"subscription_group_id": "{NEWSLETTER}"' in plan.output

    run = project.sync()

    assert run.returncode == 0, run.output
    s1 = project.emulator.find_profile(external_id="s1")
    assert s1 is not None
    assert s1["subscription_groups"] == {NEWSLETTER: "subscribed", SMS: "subscribed"}
    assert s1["attributes"] == {"email_subscribe": "opted_in"}
    s3 = project.emulator.find_profile(external_id="s3")
    assert s3 is not None and s3["subscription_groups"] == {}  # null: nothing to send
    assert run.model("subscribers")["data_points"] == 0  # subscription changes cost none

    before = len(project.emulator.track_requests)
    assert project.sync().returncode == 0
    assert len(project.emulator.track_requests) == before

    project.sql("update subscriber_rows set sms = true where user_id = 's2'")
    assert project.sync().returncode == 0
    (request,) = project.emulator.track_requests[before:]
    assert request.body == {
        "attributes": [
            {
                "external_id": "s2",
                "subscription_groups": [
                    {"subscription_group_id": SMS, "subscription_state": "subscribed"}
                ],
            }
        ]
    }


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_subscription_state_braze_would_refuse_rejects_that_user_alone(project: Project) -> None:
    project = built("subscriptions", project, _subscriptions)
    project.emulator.add_subscription_group(NEWSLETTER)  # SMS is unknown to this workspace
    project.sql("update subscriber_rows set email_subscribe = 'yes' where user_id = 's3'")
    project.sql("update subscriber_rows set newsletter = 'maybe' where user_id = 's2'")

    run = project.sync()

    assert run.returncode == 1, run.output
    reasons = {
        key: (source, reason)
        for key, source, reason in project.sql(
            f"select identifier, source, reason from {project.state_schema}.braze_rejections"
        )
    }
    assert (
        reasons["s3"][0] == "local validation"
        and "'yes' is not a subscription state" in reasons["s3"][1]
    )
    assert (
        reasons["s2"][0] == "local validation"
        and "neither subscribed, unsubscribed" in reasons["s2"][1]
    )
    assert reasons["s1"] == (
        "braze",
        f"Subscription group '{SMS}' does not exist in this workspace",
    )
