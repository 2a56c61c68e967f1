"""`check --fix`, `--diff` and `--add-noqa`: applying the rules' fixes (and noqa comments) to files.

The rules build the edits (`Report.with_fix`, from `core.edits`); this package applies them in bounded
passes, checks that every result is still Python, and writes files back as they were encoded.
"""
