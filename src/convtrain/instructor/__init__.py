"""The instructor's half of convtrain: everything a notebook never imports.

- ``course``: the course on disk (where it is, what a lesson is, nbgrader's config and
  cell metadata). Every module below asks it.
- ``build``: ``convtrain build``, the student notebooks in ``workshops/`` generated from
  ``solutions/``.
- ``grading``: ``convtrain grade``, a cohort graded in sandboxed kernels.
- ``cohort``: a synthetic cohort with the grades it must get (``make demo``, CI, benchmarks).
- ``demo``: ``make demo``, the main job end to end.
- ``headless``: the notebook client every execution here uses.

Needs the ``instructor`` extra (nbgrader); ``import convtrain`` loads none of it.
"""
