"""The first code cell of every notebook: install convtrain in Colab and Kaggle, nothing elsewhere.

Colab and Kaggle already ship torch, torchvision, matplotlib and ipywidgets; the
package's loose dependency ranges mean ``pip`` only adds what is missing. Kaggle
credentials are read from Colab Secrets (or the environment) by ``convtrain.data``
when a lesson first needs the fruits dataset, never printed.

The build and the structure test use :func:`cell_source` so every lesson carries
the same cell; ``CONVTRAIN_PIP_SPEC`` overrides what is installed (tests install
from the working tree instead of the network).
"""

from __future__ import annotations

REPOSITORY = "convtrain-course/convtrain"
BRANCH = "main"


def pip_spec(extras: tuple[str, ...] = ()) -> str:
    """The pip requirement the bootstrap cell installs, e.g. ``convtrain[fiftyone] @ git+https://...``."""
    extra = f"[{','.join(extras)}]" if extras else ""
    return f"convtrain{extra} @ git+https://github.com/{REPOSITORY}@{BRANCH}"


def cell_source(extras: tuple[str, ...] = ()) -> str:
    """Source of the bootstrap cell for a lesson that needs the given extras."""
    return (
        "# Setup. In Colab or Kaggle this installs the course library (about 20 s; torch is\n"
        "# already there and is not reinstalled). On your own machine it does nothing:\n"
        "# run `make setup` once instead (see the README).\n"
        "import os\n"
        "import sys\n"
        'if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:\n'
        f'    spec = os.environ.get("CONVTRAIN_PIP_SPEC", "{pip_spec(extras)}")\n'
        '    %pip install --quiet --progress-bar off "{spec}"'
    )
