"""``python manage.py reconcile_metrics [--fix]``: favorites, sales, revenue and the catalogue's
stored sort keys (ratings, category counts, metrics rows) against the truth."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandParser

from tracking.reconcile import find_drift, fix_drift


class Command(BaseCommand):
    help = "Compare total_favorites, total_sales and total_revenue with the Favorite and Order tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fix", action="store_true", help="set drifting counters to their true values")

    def handle(self, *args, fix: bool, **options) -> None:
        drift = find_drift()
        if not drift:
            self.stdout.write(self.style.SUCCESS("No drift: favorites, sales and revenue match the orders."))
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
