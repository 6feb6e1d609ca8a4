"""The admin's login form, under the same limits as the API's ``login``: before this,
``/admin/login/`` took any number of guesses."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from marketplace.ratelimit import client_address
from marketplace.services.accounts import TooManyAttempts, check_login_allowed


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if self.request is not None:
            try:
                check_login_allowed(username=username, address=client_address(self.request))
            except TooManyAttempts as exc:  # refused before the password is checked
                raise ValidationError(exc.message, code="rate_limited") from None
        return super().clean()
