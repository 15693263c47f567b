"""Every read model of a municipality's space, in one list.

Provisioning creates their tables, the runtime keeps a projector for each
(its own position, so one view can be rebuilt alone), and the CLI reports and
rebuilds them.  A new read model is one class with ``name``, ``tables``,
``ddl()``, ``reset()`` and ``apply()``, added here; with ``handles(event_cls)``
too, the runtime's group sends it only the events it acts on (without, every
event; tests/projections/test_routing.py checks the declarations).
"""

from __future__ import annotations

from yorisoi.projections.break_glass_view import BreakGlassView
from yorisoi.projections.case_view import CaseView
from yorisoi.projections.complaints_view import ComplaintsView
from yorisoi.projections.disposal_due import DisposalDueView
from yorisoi.projections.household_index import HouseholdIndexView
from yorisoi.projections.meetings_view import MeetingsView
from yorisoi.projections.organisation_view import OrganisationView
from yorisoi.projections.referral_board import ReferralBoardView
from yorisoi.projections.report_view import ReportView
from yorisoi.projections.resource_directory import ResourceDirectoryView
from yorisoi.projections.statistics_view import StatisticsView
from yorisoi.projections.timeline import TimelineView
from yorisoi.projections.visits_view import VisitsView

TENANT_VIEWS: tuple[type, ...] = (CaseView, TimelineView, MeetingsView, ReferralBoardView,
                                  ResourceDirectoryView, OrganisationView, ComplaintsView,
                                  BreakGlassView, DisposalDueView, StatisticsView,
                                  HouseholdIndexView, VisitsView, ReportView)


def tenant_view_ddl() -> list[str]:
    return [statement for view in TENANT_VIEWS for statement in view.ddl()]


def tenant_view_tables() -> list[str]:
    return [table for view in TENANT_VIEWS for table in view.tables]
