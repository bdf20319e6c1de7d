"""Settings for refreshing the catalogues into a scratch folder (see test_catalogues.py)."""

import os

from config.settings import *  # noqa: F403

LOCALE_PATHS = [os.environ["LUP_TEST_LOCALE_DIR"]]
