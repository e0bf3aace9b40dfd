"""The repository stands alone: what a reader needs is in it, and nothing points outside it."""

from __future__ import annotations

import re
from pathlib import Path

from domain.auth.permissions import ROLE_PERMISSIONS, StaffRole

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DOCUMENTS = ["SPEC.md", "API.md", "DESIGN.md", "PERFORMANCE.md", "client-area.md"]
# A path that climbs out of the checkout, or the folder the documents used to be read from.
OUTSIDE = re.compile(r"\.\./shared|/work/shared|(?<![\w.])\.\./\.\./")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
SPEC_RULE_IN_TEST_NAME = re.compile(r"def test_(\d+)_(\d+)_")


SKIPPED_FOLDERS = {".git", ".venv", "var", "build", "node_modules"}


def repository_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not SKIPPED_FOLDERS.intersection(path.relative_to(ROOT).parts)
        and not any(part.endswith(("_cache", ".egg-info")) for part in path.parts)
    ]


def test_no_file_cites_a_path_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        if path.suffix not in {".py", ".md", ".toml", ".yml", ".yaml", ".sql", ".j2", ""}:
            continue
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "point these at docs/ instead:\n" + "\n".join(offenders)


def test_every_relative_link_of_the_documentation_leads_to_a_file_in_the_repository() -> None:
    broken = []
    for page in [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in MARKDOWN_LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_product_documents_are_in_docs_and_the_readme_points_to_each() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in PRODUCT_DOCUMENTS:
        assert (ROOT / "docs" / name).is_file(), name
        assert f"(docs/{name})" in readme, f"README does not link docs/{name}"


def test_every_spec_rule_a_test_is_named_after_is_in_docs_spec() -> None:
    spec = (ROOT / "docs" / "SPEC.md").read_text()
    rules = {
        f"{major}.{minor}"
        for path in (ROOT / "tests").rglob("test_*.py")
        for major, minor in SPEC_RULE_IN_TEST_NAME.findall(path.read_text())
    }
    assert rules, "no test is named after a SPEC rule"
    missing = sorted(rule for rule in rules if not re.search(rf"^{re.escape(rule)} ", spec, re.M))
    assert missing == []


def test_10_1_the_readme_lists_each_staff_roles_permissions() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", (ROOT / "README.md").read_text(), re.M)
    listed = {
        role: set(re.findall(r"`(\w+)`", permissions))
        for role, permissions in rows
        if role in set(StaffRole)
    }
    assert listed == {role.value: set(ROLE_PERMISSIONS[role]) for role in StaffRole}
