"""Activity statistics for a fiscal year: counts only, and they survive disposal.

Consultations by month, site, channel and theme, and referrals sent by agency
kind (DOMAIN.md, Reporting), read from ``projections/statistics_view.py``,
whose tables hold no household and no personal value.  For the
municipality's supervisors and administrators (``oversight.read``).  Counts
are the municipality's own figures and are not suppressed; anything
published beyond it should go through the representative meeting's
small-count rule instead.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from yorisoi.domain.errors import InvalidInputError
from yorisoi.domain.themes import standard_themes
from yorisoi.domain.vocabulary import AGENCY_KINDS, CHANNEL_LABELS_JA
from yorisoi.graphql.commands import read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.projections.oversight_queries import fiscal_months
from yorisoi.projections.oversight_queries import fiscal_year as fiscal_year_dates
from yorisoi.projections.statistics_view import StatisticsQueries, StatisticsReport


@strawberry.type
class CodeCount:
    code: str
    label: str | None
    count: int


@strawberry.type
class ConsultationCell:
    month: str
    site_id: str
    channel: str
    count: int


@strawberry.type
class ThemeCell:
    month: str
    site_id: str
    theme: str
    count: int


@strawberry.type
class ReferralCell:
    month: str
    site_id: str
    agency_kind: str
    count: int


@strawberry.type(description="Counts for one fiscal year (April–March). No personal data.")
class ActivityStatistics:
    municipality_code: str
    fiscal_year: int
    site_id: str | None = strawberry.field(description="Null: every site")
    consultations: int
    consultations_by_month: list[CodeCount] = strawberry.field(description="Every month of the year, YYYY-MM")
    consultations_by_site: list[CodeCount]
    consultations_by_channel: list[CodeCount]
    consultations_by_theme: list[CodeCount] = strawberry.field(description="A consultation counts once under each of its themes")
    referrals: int = strawberry.field(description="Referrals sent")
    referrals_by_agency_kind: list[CodeCount]
    consultation_cells: list[ConsultationCell]
    theme_cells: list[ThemeCell]
    referral_cells: list[ReferralCell]


def _counts(totals: dict[str, int], labels: dict[str, str]) -> list[CodeCount]:
    return [CodeCount(code=code, label=labels.get(code), count=n) for code, n in totals.items()]


def build_statistics(municipality_code: str, fy: int, site_id: str | None,
                     report: StatisticsReport, theme_labels: dict[str, str]) -> ActivityStatistics:
    by_month = report.total("consultations", "month")
    return ActivityStatistics(
        municipality_code=municipality_code, fiscal_year=fy, site_id=site_id,
        consultations=sum(by_month.values()),
        consultations_by_month=[CodeCount(code=m, label=None, count=by_month.get(m, 0))
                                for m in fiscal_months(fy)],
        consultations_by_site=_counts(report.total("consultations", "site_id"), {}),
        consultations_by_channel=_counts(report.total("consultations", "channel"),
                                         {c.value: label for c, label in CHANNEL_LABELS_JA.items()}),
        consultations_by_theme=_counts(report.total("themes", "theme"), theme_labels),
        referrals=sum(report.total("referrals", "month").values()),
        referrals_by_agency_kind=_counts(report.total("referrals", "agency_kind"), AGENCY_KINDS),
        consultation_cells=[ConsultationCell(month=c["month"], site_id=c["site_id"],
                                             channel=c["channel"], count=c["count"])
                            for c in report.consultations],
        theme_cells=[ThemeCell(month=c["month"], site_id=c["site_id"], theme=c["theme"],
                               count=c["count"]) for c in report.themes],
        referral_cells=[ReferralCell(month=c["month"], site_id=c["site_id"],
                                     agency_kind=c["agency_kind"], count=c["count"])
                        for c in report.referrals])


@strawberry.type
class StatisticsQuery:
    @strawberry.field(description="Consultations and referrals counted by month, site, channel, theme and agency kind.")
    async def activity_statistics(self, info: Info[YorisoiContext, None], municipality_code: str,
                                  fiscal_year: int, site_id: str | None = None,
                                  ) -> ActivityStatistics:
        def run() -> ActivityStatistics:
            grant = info.context.authorize("oversight.read", municipality_code)
            if not 2000 <= fiscal_year <= 2100:
                raise InvalidInputError(field="fiscalYear", message="Not a fiscal year.",
                                        message_ja="年度の指定が正しくありません。")
            start, end = fiscal_year_dates(fiscal_year)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                report = StatisticsQueries(rt.casework.database).report(start, end, site_id)
                taxonomy = rt.casework.theme_taxonomy()
            themes = taxonomy.themes() if taxonomy is not None else standard_themes()
            return build_statistics(grant.municipality_code, fiscal_year, site_id, report,
                                    {t.code: t.label_ja for t in themes})

        return await read(run)
