"""``python manage.py reconcile_metrics [--fix]``: favorites, sales, revenue and the catalogue's
stored sort keys (ratings, category counts, metrics rows) against the truth, and the hourly and
daily buckets against the retained activity rows (``tracking.reconcile``)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandParser

from tracking.reconcile import find_drift, fix_drift


class Command(BaseCommand):
    help = (
        "Compare total_favorites, total_sales and total_revenue with the Favorite and Order tables, the stored "
        "sort keys with their sources, and the hourly and daily buckets with the retained activity rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fix", action="store_true", help="set drifting counters to their true values, rebuild drifting buckets"
        )

    def handle(self, *args, fix: bool, **options) -> None:
        drift = find_drift()
        if not drift:
            self.stdout.write(
                self.style.SUCCESS(
                    "No drift: favorites, sales and revenue match the orders; buckets match the activity."
                )
            )
            return
        for d in drift:
            self.stdout.write(f"{d.target} {d.product_id}: {d.field} is {d.stored}, should be {d.actual}")
        products = len({d.product_id for d in drift})
        if fix:
            fixed = fix_drift(drift)
            self.stdout.write(self.style.SUCCESS(f"Fixed {len(drift)} counters on {fixed} products."))
            return
        self.stderr.write(f"Drift in {len(drift)} counters on {products} products (run with --fix to repair).")
        sys.exit(1)
