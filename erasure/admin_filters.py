"""List filters of the erasure admin."""

from django.contrib import admin

from erasure import dashboard


class DeadlineFilter(admin.SimpleListFilter):
    """Open requests due today, this week, or overdue: the dashboard's deadline counts, so its
    links list exactly the requests it counted."""

    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return list(dashboard.DEADLINE_WINDOWS.items())

    def queryset(self, request, queryset):
        window = self.value()
        if window not in dashboard.DEADLINE_WINDOWS:
            return queryset
        return dashboard.erasure_requests_due(
            window=window, now=dashboard.clock(), queryset=queryset
        )
