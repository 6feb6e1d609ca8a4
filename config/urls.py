from django.contrib import admin
from django.urls import include, path

from config.admin_login import RateLimitedAdminAuthenticationForm

admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("graph.urls")),
]
