"""The erasure app's admin, one module a concern: requests (with their actions and the plan's
picture) and runs (with manual tasks); targets and holds are `targets.admin`."""

from erasure.admin import request, runs  # noqa: F401  (each registers its models)
