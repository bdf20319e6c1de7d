"""The lineage graph of training and evaluation data.

Datasets are named as OpenLineage names them (namespace + name). A dataset has immutable
versions; runs of jobs read and write versions; model versions are trained, fine-tuned and
evaluated on dataset versions. `Membership` says which subjects (by key) a version holds.
"""

import uuid

from django.db import models

from core.errors import Conflict

# Node ids are Marquez's: `dataset:<namespace>:<name>`, `job:…`, `model:…`. Namespaces and
# names hold colons (`postgres://db:5432`, BigQuery's `project:dataset.table`), so an id is
# never split to find its node: each node stores its id, and a lookup is one indexed match.
NODE_ID_LENGTH = 1100


def node_id_for(kind: str, namespace: str, name: str, *, escaped: bool = False) -> str:
    """The id of a node. Two (namespace, name) pairs can join to the same text (`a:b` + `c`
    and `a` + `b:c`); the second one to arrive gets the escaped form, whose namespace and
    name have their `%` and `:` percent-encoded, so every node keeps an id of its own."""
    if escaped:
        namespace, name = (p.replace("%", "%25").replace(":", "%3A") for p in (namespace, name))
    return f"{kind}:{namespace}:{name}"


class NamedNode(models.Model):
    """What datasets, jobs and models share: a namespace, a name and the node id they make."""

    kind = ""
    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    node_id = models.CharField(max_length=NODE_ID_LENGTH, unique=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self.node_id:
            self.node_id = self.free_node_id()
        super().save(*args, **kwargs)

    def free_node_id(self) -> str:
        others = type(self).objects.exclude(pk=self.pk)
        for escaped in (False, True):
            node_id = node_id_for(self.kind, self.namespace, self.name, escaped=escaped)
            if not others.filter(node_id=node_id).exists():
                return node_id
        raise Conflict("Another node already has this name's id.", code="node_id_taken")


class Dataset(NamedNode):
    kind = "dataset"
    description = models.TextField(blank=True)
    license = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="dataset_unique_name")
        ]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"


class DatasetAlias(models.Model):
    """Another name of a dataset (OpenLineage's `symlinks` facet: a table's path and its
    metastore name): events naming it land on the dataset, and its node id finds it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="aliases")
    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    type = models.CharField(max_length=100, blank=True)
    node_id = models.CharField(max_length=NODE_ID_LENGTH, db_index=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="dataset_alias_unique")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name} -> {self.dataset}"

    def save(self, *args, **kwargs) -> None:
        self.node_id = node_id_for("dataset", self.namespace, self.name)
        super().save(*args, **kwargs)


class DatasetVersion(models.Model):
    """One immutable state of a dataset. A correction is a new version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=200)
    digest = models.CharField(max_length=71, blank=True)  # "sha256:<hex>" of the content
    record_count = models.BigIntegerField(null=True, blank=True)
    schema_fields = models.JSONField(default=list, blank=True)
    data_categories = models.JSONField(default=list, blank=True)  # fideslang keys
    purposes = models.JSONField(default=list, blank=True)  # declared purposes of use
    # ISO 639 codes of the languages its text is in: what an eval set covers (readiness report).
    languages = models.JSONField(default=list, blank=True)
    # Where data not derived by a recorded run came from (a URL, a vendor and licence): with
    # `created_by_run` or an upstream version, its declared provenance.
    origin = models.CharField(max_length=500, blank=True)
    facets = models.JSONField(default=dict, blank=True)  # OpenLineage facets, unknown ones kept
    created_by_run = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.PROTECT, related_name="created_versions"
    )
    membership_declared = models.BooleanField(default=False)
    # How the membership was last declared, in words a plan's reader can check: "membership
    # uploaded", or "membership indexed by scanning target <name>"; empty while undeclared.
    membership_source = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="version_unique")
        ]
        ordering = ["dataset", "created_at"]

    def __str__(self) -> str:
        return f"{self.dataset} @ {self.version}"


class StorageLocation(models.Model):
    """Where a version's bytes live: the country decides which transfer rules apply."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="locations")
    system = models.CharField(max_length=100)  # s3, postgres, gcs, local…
    uri = models.CharField(max_length=1000)
    country = models.CharField(max_length=2)  # ISO 3166-1 alpha-2
    region = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    transfer_basis = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "uri"], name="location_unique_uri")
        ]

    def __str__(self) -> str:
        return f"{self.uri} ({self.country})"


class Job(NamedNode):
    kind = "job"
    facets = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="job_unique")]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"


class RunState(models.TextChoices):
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"


class Run(models.Model):
    run_id = models.UUIDField(unique=True)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=16, choices=RunState.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.job} run {str(self.run_id)[:8]}"


class RunDataset(models.Model):
    """A run read (input) or wrote (output) a dataset version."""

    class Direction(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="datasets")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="runs")
    direction = models.CharField(max_length=8, choices=Direction.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "version", "direction"], name="run_dataset_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run} {self.direction} {self.version}"


class Model(NamedNode):
    kind = "model"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="model_unique")]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"


class ModelVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=200)
    fine_tuned_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="fine_tunes"
    )
    created_by_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.PROTECT, related_name="created_models"
    )
    # ISO 3166-1 alpha-2 codes of the markets it is deployed to (serves users in).
    markets = models.JSONField(default=list, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model} @ {self.version}"


class ModelData(models.Model):
    """A model version was trained, fine-tuned or evaluated on a dataset version."""

    class Kind(models.TextChoices):
        TRAINED_ON = "trained_on"
        FINE_TUNED_ON = "fine_tuned_on"
        EVALUATED_ON = "evaluated_on"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="data")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="models")
    kind = models.CharField(max_length=16, choices=Kind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "version", "kind"], name="model_data_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} {self.kind} {self.version}"


class Edge(models.Model):
    """The graph at the level Marquez draws it (datasets, jobs, models), kept in step with runs
    so that graph queries are one recursive query over one table."""

    source = models.CharField(max_length=1100)
    target = models.CharField(max_length=1100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="edge_unique")]
        indexes = [models.Index(fields=["target"])]

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class VersionEdge(models.Model):
    """Version-level derivation: `target` was written by a run that read `source`."""

    source = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "run"], name="version_edge_unique")
        ]
        indexes = [models.Index(fields=["source"])]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_id}"


class ColumnEdge(models.Model):
    """Column lineage (OpenLineage's `columnLineage` facet): `target_field` of the target
    dataset was computed from `source_field` of the source dataset, by `run` when known."""

    source = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    source_field = models.CharField(max_length=500)
    target = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    target_field = models.CharField(max_length=500)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Facet 1-2-0's list of {type, subtype, description, masking}; 1-0-x's string becomes
    # [{"description": …}].
    transformations = models.JSONField(default=list, blank=True)
    transformation_description = models.TextField(blank=True)
    transformation_type = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_field", "target", "target_field"],
                name="column_edge_unique",
            )
        ]
        indexes = [models.Index(fields=["target", "target_field"])]

    def __str__(self) -> str:
        return f"{self.source_id}.{self.source_field} -> {self.target_id}.{self.target_field}"


class DatasetWideInput(models.Model):
    """An input field that shapes every row of the target dataset rather than one output field:
    the `dataset` list of OpenLineage's `columnLineage` facet (1-1-0 on), a filter, a join key, a
    grouping (INDIRECT transformations). Kept as the facet sends it, whatever the target's
    fields are known to be; each also becomes a `ColumnEdge` to every output field the event
    names, as producers without that list (Spark's `datasetLineageEnabled=false`) write it."""

    source = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    source_field = models.CharField(max_length=500)
    target = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The facet's list of {type, subtype, description, masking}.
    transformations = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_field", "target"], name="dataset_wide_input_unique"
            )
        ]
        indexes = [models.Index(fields=["target"])]

    def __str__(self) -> str:
        return f"{self.source_id}.{self.source_field} -> {self.target_id} (whole dataset)"


class Membership(models.Model):
    """A subject (by key) is in a dataset version. Keys only: raw identifiers are hashed on
    arrival and never stored."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="+")
    subject_key = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject_key", "version"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"member of {self.version_id}"


class MembershipStage(models.Model):
    """Keys found by one scan of a target, written as the scan reads, before they replace a
    version's membership at once (`lineage.membership.membership_replace`). A scan that dies
    leaves its rows here until the next scan of the same target discards them."""

    # No index: staging is the hot path (a row per key read), and the swap reads a stage whole,
    # which a hash join does without one.
    stage = models.UUIDField()
    subject_key = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"staged for {self.stage}"


class OpenLineageEvent(models.Model):
    """Events as received, for idempotency (the digest of the body) and audit."""

    digest = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=16)  # run, dataset, job
    event_time = models.DateTimeField()
    payload = models.JSONField()
    # The dataset and model versions its inputs and outputs became (the ingest answer's).
    versions = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} event {self.digest[:12]}"
