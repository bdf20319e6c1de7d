"""List filters of the erasure admin."""

from django.contrib import admin

from erasure import selectors


class DeadlineFilter(admin.SimpleListFilter):
    """Open requests due today, this week, or overdue: the dashboard's deadline counts, so its
    links list exactly the requests it counted."""

    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return list(selectors.DEADLINE_WINDOWS.items())

    def queryset(self, request, queryset):
        window = self.value()
        if window not in selectors.DEADLINE_WINDOWS:
            return queryset
        return selectors.erasure_requests_due(
            window=window, now=selectors.clock(), queryset=queryset
        )
