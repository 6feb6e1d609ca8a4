"""Settings of the benchmark server: the product's settings, plus the benchmark-only routes.

``DJANGO_SETTINGS_MODULE=tests.benchmarks.settings`` mounts ``tests.benchmarks.urls``
(the product's URLs and the comparison endpoints under ``/bench/``) and installs the
per-connection SQL counter. Nothing here changes how the product behaves: the database,
middleware, tracking executor and GraphQL schema are the product's own.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

ROOT_URLCONF = "tests.benchmarks.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.benchmarks.apps.BenchmarksConfig"]
TRACKING_STATS_INTERVAL = 0  # the stats publisher's upserts would count among the requests' queries
