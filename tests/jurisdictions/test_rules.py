"""Jurisdiction data files, the strictest-rule composer, its API and the admin page."""

import datetime
import shutil

import pytest

from jurisdictions import checks, rules
from jurisdictions.composer import due_at, effective_rules
from jurisdictions.rules import Deadline, jurisdictions

TEN = ["SG", "VN", "TH", "PH", "ID", "MY", "KH", "LA", "MM", "BN"]
UTC = datetime.UTC
# A Wednesday, so business-day deadlines cross a weekend.
RECEIVED = datetime.datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def compose(markets, country=None, **kwargs):
    return effective_rules(
        markets=markets, subject_country=country, received_at=RECEIVED, **kwargs
    )["rules"]


def test_every_market_has_a_file_and_every_rule_its_sources():
    loaded = jurisdictions()
    assert sorted(loaded) == sorted(TEN)
    for code, found in loaded.items():
        assert found.country == code and found.law.sources
        assert sorted(found.rules) == sorted(rules.RULE_NAMES)
        for name, rule in found.rules.items():
            assert rule.sources and all(rule.sources), (code, name)
            assert rule.summary, (code, name)
    assert checks.check_data_files(None) == []
    assert checks.check_markets(None) == []


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("VN", "erasure_deadline"),  # deletion period unconfirmed
        ("VN", "child_age"),  # Decree 13's "7+ also consents" unconfirmed under the PDPL
        ("ID", "erasure_deadline"),  # deletion hours unconfirmed
        ("ID", "child_age"),  # Art 25 †
        ("TH", "breach_notification"),  # s.37(4) †
        ("PH", "erasure_right"),  # Sec. 16(e) †
        ("PH", "cross_border"),  # Sec. 21 †
        ("BN", "cross_border"),  # weak source
        ("BN", "breach_notification"),  # weak source
        *[("LA", name) for name in rules.RULE_NAMES if name != "consent"],
        *[("BN", name) for name in rules.RULE_NAMES],
    ],
)
def test_rules_the_facts_call_unconfirmed_are_flagged(code, name):
    assert jurisdictions()[code].rules[name].unconfirmed is True


def test_settled_rules_are_not_flagged_and_daggers_stay_in_the_citation():
    loaded = jurisdictions()
    assert not loaded["TH"].rules["erasure_deadline"].unconfirmed
    assert not loaded["ID"].rules["request_deadline"].unconfirmed
    assert not loaded["LA"].rules["consent"].unconfirmed
    assert loaded["ID"].law.unconfirmed  # whether the regulator exists yet
    assert any("†" in source for source in loaded["ID"].rules["child_age"].sources)


def test_no_statutory_erasure_right_where_the_facts_say_so():
    rights = {code: j.rules["erasure_right"].value for code, j in jurisdictions().items()}
    assert {code for code, value in rights.items() if value == "none"} == {"SG", "MY", "KH", "MM"}
    assert {rights[c] for c in ("VN", "TH", "ID")} == {"statutory"}
    assert (rights["PH"], rights["LA"], rights["BN"]) == ("limited", "unknown", "unknown")


def test_all_ten_markets_compose_to_the_strictest_rule_per_dimension():
    effective = compose(TEN)
    request = effective["request_deadline"]
    assert request["from"] == ["ID"] and not request["unconfirmed"]
    assert request["deadline"] == {
        "amount": 72,
        "unit": "hours",
        "business": False,
        "extension": None,
    }
    assert (effective["consent"]["from"], effective["consent"]["level"]) == (["VN"], 6)
    assert (effective["child_age"]["from"], effective["child_age"]["age"]) == (["TH"], 20)
    transfer = effective["cross_border"]
    assert (transfer["from"], transfer["mechanism"]) == (["VN"], "filed_impact_assessment")
    assert effective["erasure_right"]["from"] == ["ID", "TH", "VN"]
    # Five other markets also allow 72 hours (SG and BN as 3 calendar days), so all are named;
    # ID, the doc's pick, describes the part as the first confirmed one.
    breach = effective["breach_notification"]
    assert breach["from"] == ["ID", "MY", "PH", "SG", "VN", "BN", "TH"]
    assert breach["deadline"]["amount"] == 72
    assert "individuals and the regulator" in breach["summary"]
    assert not breach["unconfirmed"]
    assert breach["due_at"] == "2026-03-07T09:00:00+00:00"
    assert effective["request_deadline"]["not_known_for"] == ["LA", "BN"]


def test_the_strictest_erasure_deadline_is_flagged_when_it_is_unconfirmed():
    erasure = compose(TEN)["erasure_deadline"]
    assert (erasure["basis"], erasure["from"], erasure["unconfirmed"]) == (
        "statutory",
        ["ID"],
        True,
    )
    confirmed = erasure["strictest_confirmed"]
    assert confirmed["from"] == ["PH"] and confirmed["deadline"]["business"] is True
    assert erasure["not_known_for"] == ["VN", "LA", "BN"]


def test_markets_without_a_statutory_erasure_right_fall_back_to_the_operator_policy(settings):
    settings.LUP_POLICY_DEADLINE_DAYS = 30
    erasure = compose(["SG", "MY"])["erasure_deadline"]
    assert (erasure["basis"], erasure["from"]) == ("policy", "policy")
    assert erasure["deadline"] == {
        "amount": 30,
        "unit": "days",
        "business": False,
        "extension": None,
    }
    assert "operator's policy and consent withdrawal" in erasure["summary"]
    assert (
        compose(["SG"], "KH", policy_deadline_days=14)["erasure_deadline"]["deadline"]["amount"]
        == 14
    )
    # Vietnam has a right, but its deletion period is unconfirmed: the policy applies, and says so.
    vietnam = compose(["VN"])["erasure_deadline"]
    assert (vietnam["from"], vietnam["not_known_for"]) == ("policy", ["VN"])


def test_a_thailand_only_deployment_owes_thailands_ninety_days():
    erasure = compose(["TH"])["erasure_deadline"]
    assert (erasure["basis"], erasure["from"], erasure["unconfirmed"]) == (
        "statutory",
        ["TH"],
        False,
    )
    assert erasure["deadline"]["amount"] == 90 and erasure["deadline"]["unit"] == "days"


def test_the_subjects_country_joins_the_markets_and_an_unlisted_one_adds_nothing():
    result = effective_rules(markets=["SG", "MY"], subject_country="th", received_at=RECEIVED)
    assert result["considered"] == ["SG", "MY", "TH"] and result["subject_country"] == "TH"
    assert result["rules"]["erasure_deadline"]["from"] == ["TH"]
    other = effective_rules(markets=["SG"], subject_country="US", received_at=RECEIVED)
    assert (other["considered"], other["without_data"]) == (["SG"], ["US"])


def test_deadlines_compare_by_due_time_not_by_number():
    # 30 working days run past 30 calendar days, so Thailand's 30 days is the stricter.
    assert compose(["PH", "TH"])["request_deadline"]["from"] == ["TH"]
    assert compose(["PH", "TH"])["erasure_deadline"]["from"] == ["PH"]


def test_due_at_counts_business_days_mon_to_fri_and_hours_as_hours():
    friday = datetime.datetime(2026, 3, 6, 17, 30, tzinfo=UTC)
    saturday = friday + datetime.timedelta(days=1)
    one = Deadline(amount=1, unit="days", business=True)
    assert due_at(received_at=friday, deadline=one) == datetime.datetime(
        2026, 3, 9, 17, 30, tzinfo=UTC
    )
    assert due_at(received_at=saturday, deadline=one).weekday() == 0
    ten = Deadline(amount=10, unit="days", business=True)
    assert due_at(received_at=RECEIVED, deadline=ten) == datetime.datetime(
        2026, 3, 18, 9, 0, tzinfo=UTC
    )
    assert due_at(received_at=friday, deadline=Deadline(amount=72, unit="hours")) == (
        datetime.datetime(2026, 3, 9, 17, 30, tzinfo=UTC)
    )
    assert due_at(received_at=friday, deadline=Deadline(amount=3, unit="days")) == (
        friday + datetime.timedelta(hours=72)
    )


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """The real data files in a tmp dir that the loader reads instead."""
    for path in rules.DATA_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(rules, "DATA_DIR", tmp_path)
    rules.reload()
    yield tmp_path
    monkeypatch.undo()
    rules.reload()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  consent:\n    level: 1\n", "  consent:\n    level: 9\n", "rules.consent.level"),
        (
            "    deadline: {amount: 30, unit: days, business: false, extension: null}\n",
            "    deadline: {amount: 30, unit: weeks, business: false, extension: null}\n",
            "rules.request_deadline.deadline.unit",
        ),
        (
            "      - PDPC Advisory Guidelines on children's personal data (2024, non-binding)\n",
            "      - ''\n",
            "rules.child_age.sources[0]",
        ),
        ("  child_age:\n    age: 13\n", "  child_age:\n    years: 13\n", "rules.child_age.years"),
    ],
)
def test_a_malformed_file_fails_the_startup_check_naming_file_and_field(data_copy, old, new, field):
    from django.core.checks import run_checks

    path = data_copy / "SG.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    errors = [e for e in run_checks() if e.id == "lup.E020"]
    assert len(errors) == 1
    assert "SG.yaml" in errors[0].msg and field in errors[0].msg
    with pytest.raises(rules.RulesError) as raised:
        jurisdictions()
    assert (raised.value.file, raised.value.field) == ("SG.yaml", field)


def test_a_missing_rule_or_broken_yaml_is_named_too(data_copy):
    (data_copy / "MM.yaml").write_text("country: MM\nname: [unclosed\n")
    assert "MM.yaml: (file)" in str(checks.check_data_files(None)[0].msg).replace(
        " is malformed at ", ": "
    )
    (data_copy / "MM.yaml").unlink()
    text = (data_copy / "KH.yaml").read_text()
    (data_copy / "KH.yaml").write_text(text.split("  breach_notification:")[0])
    [error] = checks.check_data_files(None)
    assert error.id == "lup.E020" and "rules.breach_notification" in error.msg


def test_every_market_needs_a_data_file(settings):
    settings.LUP_MARKETS = ["SG", "FR"]
    [error] = checks.check_markets(None)
    assert error.id == "lup.E021" and "FR" in error.msg


@pytest.mark.django_db
def test_the_public_api_lists_every_countrys_rules(client):
    response = client.get("/api/v1/jurisdictions")
    assert response.status_code == 200
    body = response.json()
    assert [j["country"] for j in body["jurisdictions"]] == sorted(TEN)
    assert body["scales"]["consent"]["6"].startswith("explicit and provable")
    vietnam = next(j for j in body["jurisdictions"] if j["country"] == "VN")
    deletion = vietnam["rules"]["erasure_deadline"]
    assert (deletion["deadline"], deletion["unconfirmed"]) == (None, True)
    assert vietnam["law"]["in_force"] == "2026-01-01"
    assert all(rule["sources"] for j in body["jurisdictions"] for rule in j["rules"].values())


@pytest.mark.django_db
def test_the_effective_api_composes_markets_and_the_subjects_country(client, settings):
    settings.LUP_MARKETS = ["SG", "MY"]
    body = client.get("/api/v1/jurisdictions/effective", {"country": "KH"}).json()
    assert (body["markets"], body["subject_country"]) == (["SG", "MY"], "KH")
    assert body["considered"] == ["SG", "MY", "KH"]
    assert body["rules"]["erasure_deadline"]["from"] == "policy"
    assert body["rules"]["request_deadline"]["from"] == ["MY"]
    assert body["rules"]["child_age"]["from"] == ["MY"]
    thai = client.get("/api/v1/jurisdictions/effective?country=TH").json()
    assert thai["rules"]["erasure_deadline"]["from"] == ["TH"]
    unlisted = client.get("/api/v1/jurisdictions/effective?country=JP")
    assert (unlisted.status_code, unlisted.json()["without_data"]) == (200, ["JP"])
    assert client.get("/api/v1/jurisdictions/effective").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("country", ["XX", "KHM", "1", "<b>"])
def test_an_unknown_country_code_is_refused(client, country):
    response = client.get("/api/v1/jurisdictions/effective", {"country": country})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_country"


@pytest.mark.django_db
def test_the_admin_page_opens_for_an_auditor_from_the_index(client, django_user_model):
    from django.contrib.auth.models import Group

    auditor = django_user_model.objects.create_user("audit", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    client.force_login(auditor)
    index = client.get("/admin/")
    assert index.status_code == 200 and b'href="/admin/jurisdictions/"' in index.content
    page = client.get("/admin/jurisdictions/", {"country": "KH"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "PDPL No. 91/2025/QH15, Art 27" in text and "unconfirmed" in text
    assert "Effective rules for this deployment" in text
    assert client.get("/admin/jurisdictions/", {"country": "ZZ"}).status_code == 200


@pytest.mark.django_db
def test_the_admin_page_needs_a_staff_session(client, django_user_model):
    response = client.get("/admin/jurisdictions/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user("someone"))
    assert client.get("/admin/jurisdictions/").status_code == 302
