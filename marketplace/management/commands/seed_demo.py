"""Build a deterministic demo marketplace of any size, fast (bulk inserts only)."""

from __future__ import annotations

import io
import os
import random
import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from marketplace.management.arguments import non_negative_int
from marketplace.models import Category, Product, ProductImage, ProductReview
from marketplace.signals import products_bulk_created
from marketplace.sort_keys import rating_score

DEMO_PASSWORD = "demo-password-2026"

CATEGORY_TREE = {
    "Electronics": ["Phones", "Laptops", "Audio", "Cameras"],
    "Home": ["Kitchen", "Furniture", "Lighting", "Garden"],
    "Fashion": ["Shoes", "Jackets", "Bags", "Watches"],
    "Sports": ["Running", "Cycling", "Climbing", "Yoga"],
    "Books": ["Fiction", "Science", "Cooking", "Travel"],
    "Toys": ["Puzzles", "Board games", "Building sets", "Outdoor toys"],
}
ADJECTIVES = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Handmade",
    "Lightweight",
    "Modern",
    "Pro",
    "Rugged",
    "Smart",
    "Vintage",
    "Wireless",
    "Premium",
    "Essential",
    "Ultra",
    "Travel",
]
NOUNS = {
    "Phones": ["Phone", "Phone case", "Charger"],
    "Laptops": ["Laptop", "Laptop stand", "Dock"],
    "Audio": ["Headphones", "Speaker", "Earbuds"],
    "Cameras": ["Camera", "Lens", "Tripod"],
    "Kitchen": ["Kettle", "Knife set", "Pan"],
    "Furniture": ["Chair", "Desk", "Shelf"],
    "Lighting": ["Lamp", "Bulb pack", "String lights"],
    "Garden": ["Planter", "Hose", "Shears"],
    "Shoes": ["Sneakers", "Boots", "Sandals"],
    "Jackets": ["Rain jacket", "Parka", "Fleece"],
    "Bags": ["Backpack", "Tote", "Duffel"],
    "Watches": ["Watch", "Strap", "Watch box"],
    "Running": ["Running shoes", "Vest", "Belt"],
    "Cycling": ["Helmet", "Bike light", "Pump"],
    "Climbing": ["Harness", "Chalk bag", "Rope"],
    "Yoga": ["Yoga mat", "Block", "Strap"],
    "Fiction": ["Novel", "Short stories", "Box set"],
    "Science": ["Field guide", "Atlas", "Primer"],
    "Cooking": ["Cookbook", "Baking book", "Spice guide"],
    "Travel": ["Guidebook", "Map", "Phrasebook"],
    "Puzzles": ["Jigsaw", "Brain teaser", "Puzzle cube"],
    "Board games": ["Board game", "Card game", "Dice set"],
    "Building sets": ["Brick set", "Robot kit", "Marble run"],
    "Outdoor toys": ["Kite", "Frisbee", "Water blaster"],
}
REVIEW_TITLES = ["Disappointing", "Not great", "Does the job", "Very good", "Excellent"]
CHUNK = 5000


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if not isinstance(value, str):
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """PostgreSQL: stream the rows through ``COPY ... FROM STDIN``, with psycopg 3
    (``cursor.copy``) or psycopg2 (``copy_expert``), whichever driver is installed.
    ``executemany`` is a loop of single INSERTs there (about 2,500 rows/s)."""
    qn = connection.ops.quote_name
    sql = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
    data = "".join("\t".join(_copy_text(v) for v in row) + "\n" for row in rows)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(sql) as copy:
                copy.write(data)
        else:  # psycopg2
            cursor.copy_expert(sql, io.StringIO(data))


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """Insert plain tuples without the ORM: the ORM's per-object work is most of the cost
    of seeding 100,000 products (measured: ~5x slower through bulk_create). COPY on
    PostgreSQL, one executemany elsewhere (SQLite runs it in-process, 33-46k rows/s)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        copy_rows(model, columns, rows)
        return
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


class Command(BaseCommand):
    help = "Create a deterministic demo marketplace: categories, sellers, products, images, reviews."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=non_negative_int, default=300, help="number of products (default 300)")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when products already exist")
        parser.add_argument(
            "--createsuperuser",
            action="store_true",
            help="also create a superuser for /admin/ (username and password from --admin-username/--admin-password "
            "or DJANGO_SUPERUSER_USERNAME/DJANGO_SUPERUSER_PASSWORD; kept as is when it exists)",
        )
        parser.add_argument("--admin-username", default=None, help="the superuser's name (default: admin)")
        parser.add_argument("--admin-password", default=None, help="the superuser's password")

    def handle(self, *args, products: int, seed: int, if_empty: bool, **options) -> None:
        if options["createsuperuser"]:
            self._superuser(options["admin_username"], options["admin_password"])
        if if_empty and Product.objects.exists():
            self.stdout.write("Demo data: products exist already, nothing to do.")
            return
        started = time.perf_counter()
        rng = random.Random(seed)
        with transaction.atomic():
            sellers, shoppers = self._users(products)
            leaves = self._categories()
            product_ids = self._products(rng, products, sellers, leaves)
            images = self._images(rng, product_ids)
            reviews = self._reviews(rng, product_ids, shoppers)
            products_bulk_created.send(sender=Product, product_ids=product_ids)
        elapsed = time.perf_counter() - started
        rate = len(product_ids) / elapsed if elapsed else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {len(product_ids):,} products, {images:,} images, {reviews:,} reviews, "
                f"{len(sellers)} sellers in {elapsed:.1f} s ({rate:,.0f} products/s). "
                f"Demo users' password: {DEMO_PASSWORD}"
            )
        )

    def _superuser(self, username: str | None, password: str | None) -> None:
        """Idempotent: an existing user of that name is left as it is (its password too)."""
        username = username or os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Superuser: {username!r} exists already, left as it is.")
            return
        password = password or os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not password:
            raise CommandError(
                "--createsuperuser needs a password: --admin-password or DJANGO_SUPERUSER_PASSWORD.", returncode=2
            )
        User.objects.create_superuser(username=username, password=password, email="")
        self.stdout.write(self.style.SUCCESS(f"Superuser: {username!r} created; log in at /admin/."))

    def _users(self, products: int):
        User = get_user_model()
        password = make_password(DEMO_PASSWORD)  # hashed once, shared: hashing is slow on purpose
        seller_count = max(3, min(50, products // 200))
        existing = set(User.objects.values_list("username", flat=True))
        names = [f"seller{i}" for i in range(1, seller_count + 1)] + [f"shopper{i}" for i in range(1, 21)]
        User.objects.bulk_create(
            [
                User(username=n, email=f"{n}@example.com", password=password, first_name=n.capitalize())
                for n in names
                if n not in existing
            ]
        )
        by_name = {u.username: u for u in User.objects.filter(username__in=names)}
        sellers = [by_name[f"seller{i}"] for i in range(1, seller_count + 1)]
        shoppers = [by_name[f"shopper{i}"] for i in range(1, 21)]
        return sellers, shoppers

    def _categories(self) -> list[Category]:
        from django.utils.text import slugify

        leaves = []
        for root_name, children in CATEGORY_TREE.items():
            root, _ = Category.objects.get_or_create(
                slug=slugify(root_name), defaults={"name": root_name, "description": f"All things {root_name.lower()}."}
            )
            for child in children:
                leaf, _ = Category.objects.get_or_create(
                    slug=slugify(child),
                    defaults={"name": child, "parent": root, "description": f"{child} of every kind."},
                )
                leaves.append(leaf)
        return leaves

    def _products(self, rng: random.Random, count: int, sellers, leaves) -> list[int]:
        from django.utils.text import slugify

        offset = Product.objects.count()
        last_id = Product.objects.order_by("-id").values_list("id", flat=True).first() or 0
        now = timezone.now()
        columns = [
            "seller_id",
            "category_id",
            "name",
            "slug",
            "description",
            "price",
            "stock",
            "is_active",
            "created_at",
            "updated_at",
            "rating_count",
            "rating_sum",
            "rating_score",
        ]
        for start in range(0, count, CHUNK):
            rows = []
            for i in range(start, min(count, start + CHUNK)):
                number = offset + i + 1
                leaf = leaves[rng.randrange(len(leaves))]
                name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[leaf.name])}"
                created = now - timedelta(minutes=count - i)  # newest last, a minute apart
                rows.append(
                    (
                        sellers[rng.randrange(len(sellers))].pk,
                        leaf.pk,
                        name,
                        f"{slugify(name)}-{number}",
                        f"{name} from our {leaf.name.lower()} range, item {number}.",
                        Decimal(rng.randrange(199, 99_999)) / 100,
                        rng.choice([0, 1, 3, 5, 10, 25, 50, 100]),
                        rng.random() > 0.03,
                        created,
                        created,
                        0,
                        0,
                        rating_score(0, 0),
                    )
                )
            insert_rows(Product, columns, rows)
        return list(Product.objects.filter(id__gt=last_id).order_by("id").values_list("id", flat=True))

    def _images(self, rng: random.Random, product_ids: list[int]) -> int:
        total = 0
        for start in range(0, len(product_ids), CHUNK):
            batch = [
                (
                    pid,
                    f"https://img.example.com/products/{pid}/{position}.jpg",
                    f"Photo {position + 1} of product {pid}",
                    position,
                )
                for pid in product_ids[start : start + CHUNK]
                for position in range(rng.randint(1, 3))
            ]
            insert_rows(ProductImage, ["product_id", "url", "alt_text", "position"], batch)
            total += len(batch)
        return total

    def _reviews(self, rng: random.Random, product_ids: list[int], shoppers) -> int:
        """Insert reviews and set each product's rating keys from them (raw rows bypass the
        review receivers): one ``UPDATE ... FROM (VALUES ...)`` per chunk of products."""
        total = 0
        now = timezone.now()
        for start in range(0, len(product_ids), CHUNK):
            batch, keys = [], []
            for pid in product_ids[start : start + CHUNK]:
                ratings = []
                for shopper in rng.sample(shoppers, rng.randint(0, 4)):
                    rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 3, 6, 5])[0]
                    title = REVIEW_TITLES[rating - 1]
                    batch.append((pid, shopper.pk, rating, title, f"{title}, {rating} stars.", now))
                    ratings.append(rating)
                if ratings:
                    keys.append((pid, len(ratings), sum(ratings), rating_score(sum(ratings), len(ratings))))
            insert_rows(ProductReview, ["product_id", "user_id", "rating", "title", "body", "created_at"], batch)
            _set_rating_keys(keys)
            total += len(batch)
        return total


def _set_rating_keys(keys: list[tuple[int, int, int, float]]) -> None:
    if not keys:
        return
    table = connection.ops.quote_name(Product._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(keys))
    sql = (
        f"UPDATE {table} SET rating_count = v.column2, rating_sum = v.column3, rating_score = v.column4 "
        f"FROM (VALUES {values}) AS v WHERE {table}.id = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for key in keys for value in key])
