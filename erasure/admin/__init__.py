"""The erasure app's admin, one module a concern: requests (with their actions and the plan's
picture), targets and holds, runs (with manual tasks)."""

from erasure.admin import request, runs, targets  # noqa: F401  (each registers its models)
