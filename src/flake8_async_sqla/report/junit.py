"""JUnit XML: one test case per finding (a failure, or skipped for a warning), one error case per file that
could not be checked, or one passing case when there is nothing to report."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from flake8_async_sqla.runner import RunOutcome

# The suite's counts, each of the entries found at its path.
COUNTS = {"tests": "testcase", "failures": "testcase/failure", "errors": "testcase/error", "skipped": "testcase/skipped"}


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source
    suites = ElementTree.Element("testsuites", name="flake8-async-sqla")
    suite = ElementTree.SubElement(suites, "testsuite", name="flake8-async-sqla")
    for result in outcome.results:
        finding = result.finding
        case = ElementTree.SubElement(
            suite, "testcase", classname=result.path, name=f"{result.path}:{finding.line}:{finding.col + 1} {finding.code}"
        )
        kind = "failure" if result.fails else "skipped"
        element = ElementTree.SubElement(case, kind, message=finding.message)
        element.text = f"{result.path}:{finding.line}:{finding.col + 1}: {finding.message}"
    for error in outcome.errors:
        case = ElementTree.SubElement(suite, "testcase", classname=error.path, name=f"{error.path} could not be checked")
        ElementTree.SubElement(case, "error", message=error.problem).text = error.problem
    if not outcome.results and not outcome.errors:
        ElementTree.SubElement(suite, "testcase", classname="flake8-async-sqla", name="no findings")
    # The counts are those of the entries written, so that a reader summing them agrees with the suite.
    for count, entries in COUNTS.items():
        suite.set(count, str(len(suite.findall(entries))))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
