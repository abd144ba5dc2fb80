"""nbgrader configuration of the convtrain course.

`solutions/` (repository root) is nbgrader's source folder and `workshops/` its
release folder, so `nbgrader generate_assignment NN_topic` (or `convtrain build`)
run from this folder writes the student notebook straight into `workshops/`.
The gradebook and the submitted/autograded/feedback folders live here and are
git-ignored.
"""

import os

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "convtrain"
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../workshops"
# release/collect through the formgrader use a folder inside the course (git-ignored).
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
# Data files a lesson keeps next to its notebook are released with it; caches are not.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.out.ipynb",
                            "capstone_model.pt"]  # what running the capstone writes

# Time limits. Grading runs the fast profile on a CPU: no lesson cell needs more than a
# few seconds there, so two minutes only stops a runaway loop.
c.Execute.timeout = 120
c.Execute.startup_timeout = 120

# Warnings (and anything else) printed to stderr by correct code must not cost points:
# nbgrader scores a test cell 0 when it has any stderr output, so drop stderr from graded
# outputs. A failing test still fails: its exception is an "error" output, not a stream.
c.IgnorePattern.pattern = r"(?s).+"
c.IgnorePattern.enabled = True

# Students see the exercise's signature and docstring, then this stub.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Answers are graded from a clean, top-to-bottom run: stale outputs never count.
c.ClearOutput.enabled = True
