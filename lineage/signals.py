from django.dispatch import Signal

# Sent inside the transaction that records an OpenLineage event, with `version_ids`: the
# dataset versions its inputs and outputs landed on. The target registry subscribes (a target
# whose config points at the dataset stores those versions); lineage knows nothing of it.
dataset_versions_named = Signal()
