"""One place maps domain errors to API errors: every "not found" answers NotFound."""

from __future__ import annotations

import pytest

from yorisoi.domain.consent import ConsentNotFoundError
from yorisoi.domain.consultations import ConsultationNotFoundError
from yorisoi.domain.errors import CaseClosedError, NotFoundDomainError
from yorisoi.graphql.errors import NotFoundError, ValidationError, user_error
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.meetings import CaseMeetingNotFoundError
from yorisoi.services.referrals import AgencyNotFoundError, ReferralNotFoundError
from yorisoi.services.support_notes import SupportNoteNotFoundError

NOT_FOUND = [CaseNotFoundError, ConsultationNotFoundError, ConsentNotFoundError,
             CaseMeetingNotFoundError, ReferralNotFoundError, AgencyNotFoundError,
             SupportNoteNotFoundError]


@pytest.mark.parametrize("error_class", NOT_FOUND, ids=lambda c: c.code)
def test_every_not_found_error_answers_not_found_with_its_code_and_messages(error_class):
    assert issubclass(error_class, NotFoundDomainError)
    error = error_class(field="someId")
    answer = user_error(error)
    assert isinstance(answer, NotFoundError)
    assert (answer.code, answer.message, answer.message_ja) == (
        error_class.code, error_class.message, error_class.message_ja)


def test_a_new_not_found_error_needs_no_mapping_of_its_own():
    class WidgetNotFoundError(NotFoundDomainError):
        code = "widget_not_found"

    assert isinstance(user_error(WidgetNotFoundError()), NotFoundError)


def test_other_domain_errors_stay_validation_errors():
    answer = user_error(CaseClosedError(field="caseId"))
    assert isinstance(answer, ValidationError)
    assert [(e.field, e.code) for e in answer.field_errors] == [("caseId", "case_closed")]
