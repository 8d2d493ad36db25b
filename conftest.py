"""Settings shared by every test, the notebook checks included."""

from __future__ import annotations

import os

from hypothesis import settings

# Notebooks executed by nbval start kernels that inherit this environment: the smoke profile
# keeps every chapter within seconds.
os.environ.setdefault("MTLLIB_PROFILE", "smoke")

# Timings on a shared 2-core machine vary too much for per-example deadlines.
settings.register_profile("default", deadline=None, max_examples=100)
settings.load_profile("default")

# The packaged experiment notebook is a link to chapters/experiment.ipynb, which runs once.
collect_ignore = ["mtllib/notebooks", "_build", "results"]
