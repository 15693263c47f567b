"""Theme-taxonomy commands of the casework application (mixed into CaseworkApplication).

One casework application serves one municipality, so the taxonomy it reads
and changes is always its own municipality's: the code comes from the
application's space, never from a request.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.themes import Theme, ThemeTaxonomy, standard_themes
from yorisoi.services.tenant_application import command


class ThemeCommands:
    """Adding and retiring a municipality's own consultation themes."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any

    @property
    def municipality_code(self) -> str:
        # A municipality's space is "t_<code>" (tenants/spaces.py).
        prefix, _, code = self.tenant.partition("_")
        if prefix != "t" or not code:
            raise RuntimeError("not a municipality's casework application")
        return code

    def theme_taxonomy(self) -> ThemeTaxonomy | None:
        """The municipality's taxonomy, read afresh (None while it has no additions)."""
        try:
            taxonomy: Any = self.repository.get(ThemeTaxonomy.create_id(self.municipality_code))
        except AggregateNotFoundError:
            return None
        return taxonomy

    def themes(self) -> list[Theme]:
        """Every theme of the municipality, retired ones included."""
        taxonomy = self.theme_taxonomy()
        return taxonomy.themes() if taxonomy is not None else standard_themes()

    @command("command.add_theme")
    def add_theme(self, *, code: str, label_ja: str, label_en: str | None) -> ThemeTaxonomy:
        """Add a theme of the municipality's own."""
        taxonomy = self.theme_taxonomy() or ThemeTaxonomy(
            municipality_code=self.municipality_code)
        taxonomy.add_theme(code=code, label_ja=label_ja, label_en=label_en)
        self.save(taxonomy)
        return taxonomy

    @command("command.retire_theme")
    def retire_theme(self, *, code: str) -> ThemeTaxonomy:
        """Retire an added theme: refused for new records, still valid on old ones."""
        taxonomy = self.theme_taxonomy() or ThemeTaxonomy(
            municipality_code=self.municipality_code)
        taxonomy.retire_theme(code)
        if taxonomy.pending_events:  # retiring a retired theme changes nothing
            self.save(taxonomy)
        return taxonomy
