"""The `lup` command and Python client: a thin client over Lup's HTTP API.

It imports no Django app (an import-linter contract checks it), so it installs and runs on a
laptop, in a CI job or inside a training job with nothing of the server around it.
"""

__version__ = "0.1.0"
