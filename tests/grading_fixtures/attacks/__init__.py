"""The adversarial cohort of ``tests/test_grading_attacks.py`` (see ``catalog.py``)."""
