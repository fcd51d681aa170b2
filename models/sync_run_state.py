"""What one synchronization run carries from step to step.

A run reads pages through one client, counts per entity what it created,
updated and archived, collects the records it had to skip (with their reason,
for the run's log) and caches the currencies and countries it resolved. The
OCA's connector calls this a work context; here it is a plain dataclass, named
so that it never reads like Odoo's ``env.context``.
"""

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class EntityCounts:
    """Records of one entity a run created, updated and archived."""

    created: int = 0
    updated: int = 0
    archived: int = 0

    def add(self, other):
        self.created += other.created
        self.updated += other.updated
        self.archived += other.archived


class Skip(NamedTuple):
    """A record Billwerk sent that could not be stored, and why."""

    entity: str
    key: str
    reason: str


@dataclass
class SyncRunState:
    """The state of a run in progress (see the module's docstring)."""

    client: Any = None
    # The scheduled call's TimeBudget (scheduling/budget.py).
    budget: Any = None
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    skips: list[Skip] = field(default_factory=list)
    currencies: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    # Model -> {handle: id} of the records its last INSERT created: the
    # transactions and credit notes of a page of invoices find their invoice
    # here instead of asking the database (see ``_resolve_references``).
    inserted: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def for_entities(cls, entity_names):
        return cls(counts={name: EntityCounts() for name in entity_names})

    def skip(self, entity, key, reason):
        self.skips.append(Skip(entity, key, reason))

    def mark(self):
        """What ``restore`` goes back to: counts and skips as they are now."""
        counts = {name: EntityCounts(**vars(c)) for name, c in self.counts.items()}
        return counts, len(self.skips)

    def restore(self, mark):
        """Forget what a rolled-back attempt counted, skipped and inserted."""
        counts, skips = mark
        self.counts = {name: EntityCounts(**vars(c)) for name, c in counts.items()}
        del self.skips[skips:]
        self.inserted.clear()
