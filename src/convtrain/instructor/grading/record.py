"""Write the grades into nbgrader's gradebook, so formgrader and ``nbgrader export`` see them.

A test's score is stored as nbgrader's auto score. A written answer that the student
wrote is stored as "needs manual grade" with no auto score (nbgrader's own convention);
one left as handed out gets an auto score of 0. A manual score a person gave already is
never overwritten.

Only the parent process touches the gradebook, after backing it up
(``course.backup_gradebook``); student code never can (see ``execute``).
"""

from __future__ import annotations

import warnings

from convtrain.instructor.course import Course
from convtrain.instructor.grading.gradebook import Assignment
from convtrain.instructor.grading.report import Result


def record(course: Course, assignments: dict[str, Assignment], results: list[Result]) -> int:
    """Store each result's per-test scores as nbgrader auto scores; return how many were stored."""
    from nbgrader.api import Gradebook

    stored = 0
    with warnings.catch_warnings(), Gradebook(course.db_url) as gradebook:
        # nbgrader's add_submission triggers SQLAlchemy autoflush warnings; the rows are stored.
        warnings.simplefilter("ignore")
        for result in results:
            assignment = assignments.get(result.assignment)
            if assignment is None:
                continue
            lesson = assignment.name.split("/")[0]
            gradebook.update_or_create_student(result.student_id)
            gradebook.update_or_create_submission(lesson, result.student_id)
            scores = {test["name"]: test["points"] for test in result.tests}
            written = {item["name"]: item["status"] for item in result.written}
            for cell in assignment.cells:
                if not cell.grade:
                    continue
                grade = gradebook.find_grade(cell.name, assignment.notebook, lesson, result.student_id)
                if cell.is_written:
                    answered = written.get(cell.name, "missing") != "not_answered"
                    grade.auto_score = None if answered else 0.0
                    if grade.manual_score is None:
                        grade.needs_manual_grade = answered
                else:
                    grade.auto_score = float(scores.get(cell.name, 0.0))
                    grade.needs_manual_grade = False
            gradebook.db.commit()
            stored += 1
    return stored
