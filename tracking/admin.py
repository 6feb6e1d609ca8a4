from django.contrib import admin

from marketplace.admin import ProductAdmin
from marketplace.models import Product
from tracking.models import ActivityEvent, ProcessStats, ProductMetrics


class ReadOnlyAdmin(admin.ModelAdmin):
    """Counters change only through the tracking pipeline, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


METRICS_FIELDS = [
    "total_impressions",
    "total_views",
    "total_clicks",
    "total_favorites",
    "total_cart_additions",
    "total_cart_removals",
    "total_sales",
    "total_revenue",
    "click_through_rate",
    "cart_addition_rate",
    "conversion_rate",
    "favorite_rate",
    "updated_at",
]


class ProductMetricsInline(admin.StackedInline):
    """A product's counters on its own admin page, read-only: the tracking pipeline writes them."""

    model = ProductMetrics
    fields = METRICS_FIELDS
    readonly_fields = METRICS_FIELDS
    can_delete = False
    max_num = 1
    extra = 0
    verbose_name = verbose_name_plural = "metrics"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ProductWithMetricsAdmin(ProductAdmin):
    """The catalogue's ProductAdmin plus the metrics inline. Registered from here because the
    arrows point tracking -> marketplace: marketplace's admin cannot import tracking."""

    inlines = [*ProductAdmin.inlines, ProductMetricsInline]


admin.site.unregister(Product)
admin.site.register(Product, ProductWithMetricsAdmin)


@admin.register(ProductMetrics)
class ProductMetricsAdmin(ReadOnlyAdmin):
    list_display = [
        "product",
        "total_impressions",
        "total_views",
        "total_clicks",
        "total_favorites",
        "total_cart_additions",
        "total_sales",
        "total_revenue",
        "click_through_rate",
        "conversion_rate",
        "updated_at",
    ]
    list_select_related = ["product"]
    search_fields = ["product__name", "product__slug"]


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "product", "user", "visitor_key", "quantity", "amount"]
    list_filter = ["kind"]
    list_select_related = ["product", "user"]
    date_hierarchy = "created_at"


@admin.register(ProcessStats)
class ProcessStatsAdmin(ReadOnlyAdmin):
    """What each server process last published (``trackingStatus`` sums the fresh ones)."""

    list_display = ["host", "pid", "started_at", "updated_at", "enqueued", "processed", "dropped", "queue_depth"]
