"""Settings shared by every test, the notebook checks included."""

from __future__ import annotations

import os

from hypothesis import settings

# Notebooks executed by nbval start kernels that inherit this environment: the smoke profile
# keeps every chapter within seconds.
os.environ.setdefault("MTLLIB_PROFILE", "smoke")

# Timings on a shared 2-core machine vary too much for per-example deadlines. The default
# profile draws the same examples on every run, so a CI result does not depend on luck;
# HYPOTHESIS_PROFILE=explore draws new random examples on every run, to hunt for bugs.
settings.register_profile("default", deadline=None, max_examples=100, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The packaged experiment notebook is a link to chapters/experiment.ipynb, which runs once.
collect_ignore = ["mtllib/notebooks", "_build", "results"]
