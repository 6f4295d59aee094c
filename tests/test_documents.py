"""The documents a newcomer reads: a short README, every other page in docs/, links that lead
somewhere, and nothing that points outside the repository."""

import re

import pytest

from tests.support import ROOT

DOCUMENTS = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_read_in_two_minutes():
    text = (ROOT / "README.md").read_text()
    assert len(text) < 8000
    for heading in ("## The two commands", "## Map", "## Documents"):
        assert heading in text


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_a_document_leads_to_a_file_of_the_repository(document):
    targets = [m.group(1) for m in LINK.finditer(document.read_text()) if "://" not in m.group(1)]
    missing = [t for t in targets if not (document.parent / t).resolve().exists()]
    assert missing == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_points_outside_the_repository(document):
    text = document.read_text()
    assert "../shared" not in text and "DOMAIN.md" not in text
    for target in (m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1)):
        assert (document.parent / target).resolve().is_relative_to(ROOT), target


def test_every_page_in_docs_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md")
    assert [page for page in pages if f"docs/{page}" not in readme] == []
