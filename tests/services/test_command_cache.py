"""Commands served from the aggregate cache decide exactly as if they had read the log.

Two applications of one municipality stand for two server processes: each has
its own cache, and what one writes the other's cache does not know.  Every
test makes the other one change something the first one holds in its cache,
then checks that the first one's next command acts on the change (PostgreSQL:
the insert function validates the command's reads), and that nothing is
written twice or lost.  On SQLite there is no insert function: commands read
the file and nothing is cached.
"""

from __future__ import annotations

import inspect
from functools import partial
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from world import consultation_command

import yorisoi.domain as domain_package
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import HouseholdConsents
from yorisoi.domain.data_subject_indexes import HouseholdRequests
from yorisoi.domain.errors import DomainError
from yorisoi.domain.themes import ThemeTaxonomy
from yorisoi.infra.clock import japan_today
from yorisoi.infra.recorders import StaleReadError
from yorisoi.services.aggregate_cache import AggregateCache, cacheable
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.data_subject_requests import ProcessingSuspendedError
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
_command = partial(consultation_command, site_id="a-counter", contract_id=None, wishes="",
                   direction="")


def _more(case_id, **overrides):  # noqa: ANN001, ANN202
    """A further consultation on a case, under the consent already on file (checked)."""
    return _command(case_id=case_id, household=None, consent=None, **overrides)


def _domain_aggregates() -> list[type]:
    import importlib
    import pkgutil

    found: set[type] = set()
    for module in pkgutil.iter_modules(domain_package.__path__):
        loaded = importlib.import_module(f"yorisoi.domain.{module.name}")
        found.update(value for value in vars(loaded).values()
                     if inspect.isclass(value) and issubclass(value, Aggregate)
                     and value is not Aggregate)
    return sorted(found, key=lambda cls: cls.__qualname__)


def _events_of(rt: TenantRuntime, aggregate_id) -> list:  # noqa: ANN001
    return list(rt.casework.events.get(aggregate_id))


@pytest.fixture
def pair(pg_settings):
    """(this process's runtime, another process's runtime) of one municipality."""
    from world import build_world

    world = build_world(pg_settings)
    other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        yield rt, other
    other.close()
    world.services.close()


def _warm(rt: TenantRuntime):  # noqa: ANN202
    """A case recorded and commanded once more, so the cache holds it and its indexes."""
    done = rt.casework.record_consultation(_command())
    rt.casework.record_consultation(_more(done.case_id))
    assert done.case_id in rt.casework.aggregates
    assert HouseholdRequests.create_id(done.household_id) in rt.casework.aggregates
    return done


def test_only_aggregates_without_personal_fields_may_be_kept():
    kept = {cls.__name__ for cls in _domain_aggregates() if cacheable(cls)}
    personal = {cls.__name__ for cls in _domain_aggregates() if not cacheable(cls)}
    # The classes whose events carry personal fields are never kept…
    assert {"Household", "Consultation", "Consent", "ConsentException", "Referral",
            "CaseMeeting", "Complaint", "SupportNote"} <= personal
    # …and what commands read most is.
    assert {"Case", "HouseholdConsents", "HouseholdRequests", "ThemeTaxonomy"} <= kept
    for cls in _domain_aggregates():
        if cacheable(cls):
            events = [getattr(cls, name) for name in dir(cls)
                      if isinstance(getattr(cls, name, None), type)
                      and issubclass(getattr(cls, name), Aggregate.Event)]
            assert events and not any(getattr(e, "personal_fields", ()) for e in events), cls


def test_a_recorded_consultation_keeps_no_personal_aggregate_in_the_cache(pair):
    rt, _ = pair
    done = _warm(rt)
    kept = rt.casework.aggregates
    assert done.household_id not in kept and done.consultation_id not in kept
    for aggregate_id in list(kept._entries):
        version, aggregate = kept.get(aggregate_id)
        assert aggregate is None or cacheable(type(aggregate)), type(aggregate)


def test_a_command_on_a_kept_case_reads_nothing_and_writes_after_it(pair):
    rt, _ = pair
    done = _warm(rt)
    version = rt.casework.repository.get(done.case_id).version
    recorder, reads = rt.casework.recorder, []
    # Count the recorder's two aggregate reads (the real ones still run).
    whole, many = recorder._select_whole, recorder._select_rows
    recorder._select_whole = lambda oid: reads.append(oid) or whole(oid)
    recorder._select_rows = lambda sql, ids: reads.append(ids) or many(sql, ids)
    try:
        rt.casework.mark_council_case(done.case_id, council_case=True,
                                      expected_version=version, writable_contract_ids=None)
        rt.casework.record_consultation(_more(done.case_id))  # case, indexes, consent terms
    finally:
        del recorder._select_whole, recorder._select_rows
    # Only the household is read: reporting decides the child's age band at the
    # consultation from its birth dates, and a personal aggregate is never kept.
    assert reads == [[done.household_id]]
    assert rt.casework.repository.get(done.case_id).version == version + 2
    # The copy handed out is the command's own: changing it leaves the kept one alone.
    kept_version, copy = rt.casework.aggregates.get(done.case_id)
    copy.consultation_ids.append("not a real id")
    assert kept_version == version + 2
    assert "not a real id" not in rt.casework.aggregates.get(done.case_id)[1].consultation_ids


def test_a_write_by_another_process_makes_the_kept_case_retry_and_nothing_is_lost(pair):
    rt, other = pair
    done = _warm(rt)
    # The other process adds a consultation: this process's cached case is one behind.
    theirs = other.casework.record_consultation(_more(done.case_id))
    ours = rt.casework.record_consultation(_more(done.case_id))
    case = other.casework.repository.get(done.case_id)
    assert case.consultation_ids[-2:] == [theirs.consultation_id, ours.consultation_id]
    versions = [event.originator_version for event in _events_of(rt, done.case_id)]
    assert versions == list(range(1, len(versions) + 1))


def test_a_suspension_made_elsewhere_refuses_the_next_command(pair):
    rt, other = pair
    done = _warm(rt)
    today = japan_today()
    request = other.casework.receive_data_subject_request(
        household_id=done.household_id, kind="suspension_of_use",
        identification_method="counter_photo_id", requester_relationship="self",
        received_on=today)
    other.casework.start_data_subject_request(request.id, started_on=today, expected_version=None)
    other.casework.answer_data_subject_request(request.id, answered_on=today,
                                               outcome="suspended", expected_version=None)
    # This process still holds the household's request index from before the request
    # (kept as absent: the household had none).
    index_id = HouseholdRequests.create_id(done.household_id)
    assert rt.casework.aggregates.get(index_id) == (0, None)
    before = len(_events_of(rt, done.case_id))
    with pytest.raises(ProcessingSuspendedError):
        rt.casework.record_consultation(_more(done.case_id))
    assert len(_events_of(rt, done.case_id)) == before
    # The retry read the index afresh, and keeps it.
    kept_version, index = rt.casework.aggregates.get(index_id)
    assert kept_version >= 2 and index.suspended


def test_a_refusal_is_decided_on_fresh_reads_not_on_an_old_copy(pair):
    rt, other = pair
    done = _warm(rt)
    version = rt.casework.repository.get(done.case_id).version
    rt.casework.close_case(done.case_id, closed_on=japan_today(), reason="support_completed",
                           expected_version=version, writable_contract_ids=None)
    assert rt.casework.aggregates.get(done.case_id)[1].status == "closed"
    # Reopened by the other process: the kept copy here still says closed.
    other.casework.reopen_case(done.case_id, reopened_on=japan_today(), expected_version=None,
                               writable_contract_ids=None)
    # On the old copy this would be refused (closed case); on fresh reads it is recorded.
    recorded = rt.casework.record_consultation(_more(done.case_id))
    assert other.casework.repository.get(done.case_id).consultation_ids[-1] == (
        recorded.consultation_id)


def test_a_refusal_on_fresh_reads_stands(pair):
    rt, other = pair
    done = _warm(rt)
    other.casework.close_case(done.case_id, closed_on=japan_today(), reason="support_completed",
                              expected_version=None, writable_contract_ids=None)
    before = len(_events_of(rt, done.case_id))
    with pytest.raises(DomainError) as refused:
        rt.casework.record_consultation(_more(done.case_id))
    assert refused.value.code == "case_closed"
    assert len(_events_of(rt, done.case_id)) == before
    # The expected version given by a user is checked against the fresh case too.
    fresh = other.casework.repository.get(done.case_id).version
    reopened = rt.casework.reopen_case(done.case_id, reopened_on=japan_today(),
                                       expected_version=fresh, writable_contract_ids=None)
    assert reopened.version == fresh + 1


def test_the_insert_refuses_a_read_set_that_moved(pair):
    rt, _ = pair
    done = _warm(rt)
    recorder = rt.casework.recorder
    assert recorder.validates_reads
    consents = HouseholdConsents.create_id(done.household_id)
    current = rt.casework.repository.get(consents).version
    case = rt.casework.repository.get(done.case_id)
    case.mark_council_case(council_case=True)
    with recorder.validating_reads(use_cache=False) as reads:
        reads.note(consents, current - 1)  # as if read before its latest event
        with pytest.raises(StaleReadError) as stale:
            rt.casework.save(case)
    assert stale.value.originator_id == consents
    assert isinstance(stale.value, IntegrityError)  # the API's concurrent_change
    assert rt.casework.repository.get(done.case_id).version == case.version - 1


def test_an_absent_aggregate_is_kept_as_absent_and_validated(pair):
    rt, other = pair
    done = _warm(rt)
    taxonomy = ThemeTaxonomy.create_id(CITY_A)
    assert rt.casework.aggregates.get(taxonomy) == (0, None)
    # The other process gives the municipality its own theme: the kept "absent" is old.
    other.casework.add_theme(code="local_play", label_ja="遊び場", label_en="Play")
    recorded = rt.casework.record_consultation(
        _more(done.case_id, themes=["local_play"]))
    assert recorded.case_id == done.case_id
    assert rt.casework.aggregates.get(taxonomy)[0] >= 1


def test_the_cache_is_bounded_and_a_newer_version_wins():
    cache = AggregateCache(maxsize=2)
    cases = []
    for _ in range(3):
        case = Case(household_id=uuid4(),
                    municipality_code=CITY_A, site_id="a-counter", contract_id=None,
                    opened_on=japan_today())
        case.collect_events()
        cache.put(case)
        cases.append(case)
    assert len(cache) == 2 and cases[0].id not in cache
    newer = cases[2]
    older = cache.get(newer.id)[1]
    newer.mark_council_case(council_case=True)
    newer.collect_events()
    cache.put(newer)
    cache.put(older)  # a slower thread putting what it read earlier
    assert cache.get(newer.id)[0] == newer.version


def test_sqlite_commands_read_the_file_and_keep_nothing(sqlite_settings):
    from world import build_world

    world = build_world(sqlite_settings)
    try:
        with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
            done = rt.casework.record_consultation(_command())
            rt.casework.record_consultation(_more(done.case_id))
            assert len(rt.casework.aggregates) == 0
    finally:
        world.services.close()


def test_a_cache_size_of_zero_keeps_nothing_and_commands_still_validate(pg_settings):
    from world import build_world

    world = build_world(pg_settings.model_copy(update={"command_cache_size": 0}))
    try:
        with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
            done = rt.casework.record_consultation(_command())
            rt.casework.record_consultation(_more(done.case_id))
            assert len(rt.casework.aggregates) == 0
            assert rt.casework.recorder.validates_reads
    finally:
        world.services.close()


def test_the_consent_check_keeps_only_the_consents_terms(pair):
    rt, _ = pair
    done = _warm(rt)
    consent_id = rt.casework.household_consents(done.household_id).consents[0].id
    # Kept for the check: read without its envelope — nothing personal, and marked so.
    kept_version, terms = rt.casework.terms_kept.get(consent_id)
    assert terms.personal_withheld and terms.purpose == "create_records"
    assert (terms.given_by, terms.relationship, terms.scope) == (None, None, None)
    # Never among the whole aggregates, and a whole read still opens the fields.
    assert consent_id not in rt.casework.aggregates
    whole = rt.casework.household_consents(done.household_id).consents[0]
    assert whole.given_by == "架空 花子" and not hasattr(whole, "personal_withheld")


def test_a_consent_withdrawn_elsewhere_refuses_the_next_record(pair):
    rt, other = pair
    done = _warm(rt)
    consent_id = rt.casework.household_consents(done.household_id).consents[0].id
    assert consent_id in rt.casework.terms_kept
    other.casework.withdraw_consent(done.case_id, consent_id, withdrawn_on=japan_today(),
                                    reason="本人の申出", writable_contract_ids=None)
    before = len(_events_of(rt, done.case_id))
    with pytest.raises(DomainError) as refused:
        rt.casework.record_consultation(_more(done.case_id))
    assert refused.value.code == "consent_withdrawn"
    assert len(_events_of(rt, done.case_id)) == before
    assert rt.casework.terms_kept.get(consent_id)[1].withdrawn


def test_a_consent_withdrawn_here_is_forgotten_at_once(pair):
    rt, _ = pair
    done = _warm(rt)
    consent_id = rt.casework.household_consents(done.household_id).consents[0].id
    assert consent_id in rt.casework.terms_kept
    rt.casework.withdraw_consent(done.case_id, consent_id, withdrawn_on=japan_today(),
                                 reason="本人の申出", writable_contract_ids=None)
    assert consent_id not in rt.casework.terms_kept  # its terms are read afresh next time
    with pytest.raises(DomainError) as refused:
        rt.casework.record_consultation(_more(done.case_id))
    assert refused.value.code == "consent_withdrawn"
