"""JUnit XML: one test case per finding (a failure), or one passing case when there is none."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from flake8_async_sqla.runner import RunOutcome


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source
    failures = [r for r in outcome.results if r.fails]
    suites = ElementTree.Element("testsuites", name="flake8-async-sqla")
    suite = ElementTree.SubElement(
        suites, "testsuite", name="flake8-async-sqla", tests=str(max(1, len(outcome.results))),
        failures=str(len(failures)), errors=str(len(outcome.errors)), skipped="0",
    )
    for result in outcome.results:
        finding = result.finding
        case = ElementTree.SubElement(
            suite, "testcase", classname=result.path, name=f"{result.path}:{finding.line}:{finding.col + 1} {finding.code}"
        )
        kind = "failure" if result.fails else "skipped"
        element = ElementTree.SubElement(case, kind, message=finding.message)
        element.text = f"{result.path}:{finding.line}:{finding.col + 1}: {finding.message}"
    for path, problem in outcome.errors:
        case = ElementTree.SubElement(suite, "testcase", classname=path, name=f"{path} could not be checked")
        ElementTree.SubElement(case, "error", message=problem).text = problem
    if not outcome.results and not outcome.errors:
        ElementTree.SubElement(suite, "testcase", classname="flake8-async-sqla", name="no findings")
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
