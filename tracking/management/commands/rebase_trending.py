"""``python manage.py rebase_trending [--rebuild]``: move the TRENDING epoch to now.

Batches rebase by themselves when the scores near a float's range (tracking.trending), so
this is for operators: ``--rebuild`` recomputes every score from the activity rows (after
``TRENDING_HALF_LIFE_HOURS`` changed, or once after the upgrade that added the score).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from tracking.trending import rebase, rebuild


class Command(BaseCommand):
    help = "Rebase the TRENDING scores on a new epoch (order unchanged), or rebuild them from the activity rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="recompute every score from the activity rows")

    def handle(self, *args, rebuild: bool = False, **options) -> None:
        if rebuild:
            count = _rebuild(self.stdout)
            self.stdout.write(self.style.SUCCESS(f"Rebuilt the trending scores of {count:,} products."))
            return
        moved = rebase()
        self.stdout.write(self.style.SUCCESS(f"Rebased the trending scores by {moved:.1f} half-lives."))


def _rebuild(out) -> int:
    return rebuild(on_chunk=lambda done, total: out.write(f"  {done:,} of {total:,} products written"))
