from django.contrib import admin

from tracking.models import ActivityEvent, ProductMetrics


class ReadOnlyAdmin(admin.ModelAdmin):
    """Counters change only through the tracking pipeline, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
