"""`convtrain grade`: grade a cohort's notebooks against the nbgrader gradebook.

nbgrader keeps the gradebook; this package adds what a real course needs around it.
One module per step of a grading run, in the order they happen:

- ``course``: find the course, read its nbgrader config, load each assignment's
  cells (test cells with hidden tests, points, order) from the gradebook.
- ``discover``: find the submissions in a folder or LMS zip and tell each
  student's notebooks apart (``discover``), and decide which assignment a
  notebook is by its content (``identify``).
- ``restore``: rebuild the notebook that is run: the student's cells plus the
  gradebook's test cells, metadata restored, test cells split into visible and
  hidden parts.
- ``guard``: the code injected at grading time that keeps the tests honest.
- ``sandbox`` / ``execute``: run that notebook in a locked-down kernel with limits
  (``execute.Task``: one self-contained submission, ``execute.run_task``: task -> execution).
- ``cluster``: the same tasks on a Dask cluster (``--scheduler``; ``course/SCALING.md``).
- ``score``: turn the executed steps into points, flags and feedback messages.
- ``report`` and ``record``: grades.csv, feedback HTML, the log, the result
  cache that makes reruns idempotent, and the gradebook update.
- ``cohort_report``: report.html, the cohort at a glance for the instructor.
- ``flags``: the one enumeration of the flags a notebook can carry, with what each
  means for the student and for the instructor.
- ``command``: the ``convtrain grade`` command line.

The threat model is in ``course/GRADING.md``.
"""
