"""The shape of the code: dependencies point one way and service modules stay readable.

``accounts`` ← ``ecard`` ← ``codes``: the card domain never imports codes and scanners
(``codes`` listens to ``ecard.signals``), accounts import neither, and ``plumbing`` (error
shape, parsers, throttles, idempotency, observability) imports no app; ``config`` wires them
all together and none of them imports it.
"""

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

SERVICE_MODULE_LIMIT = 400
REASON_MARK = "Longer than 400 lines because"

# config/ wires the apps together and may import all of them; no app imports config (its
# settings are read through django.conf.settings, its Celery app through celery's current_app).
FORBIDDEN = {
    "codes": {"config"},
    "ecard": {"codes", "config"},
    "accounts": {"ecard", "codes", "config"},
    "plumbing": {"accounts", "ecard", "codes", "config"},
}


def imported_packages(source: str) -> set[str]:
    """Top-level packages a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def layering_violations(app: str, root: Path = ROOT) -> list[str]:
    violations = []
    for path in app_modules(app, root):
        relative = path.relative_to(root / app)
        bad = imported_packages(path.read_text()) & FORBIDDEN[app]
        violations += [f"{app}/{relative} imports {name}" for name in sorted(bad)]
    return violations


def oversized_service_modules(files) -> list[str]:
    return [
        path.name
        for path in files
        if len(path.read_text().splitlines()) > SERVICE_MODULE_LIMIT and REASON_MARK not in path.read_text()
    ]


def app_modules(app: str, root: Path = ROOT):
    return sorted(p for p in (root / app).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_never_imports_the_apps_built_on_it(app):
    assert app_modules(app), f"{app}/ has no modules: the check would pass vacuously"
    assert layering_violations(app) == []


@pytest.mark.parametrize("package", ["ecard/services", "codes/services"])
def test_no_service_module_grows_past_its_limit_without_a_reason_at_its_top(package):
    modules = sorted((ROOT / package).glob("*.py"))
    assert len(modules) > 3, "services are split by sub-domain"
    assert oversized_service_modules(modules) == []


def test_the_layering_check_catches_a_card_module_that_imports_tokens(tmp_path):
    app = tmp_path / "ecard"
    (app / "services").mkdir(parents=True)
    (app / "services" / "cards.py").write_text(
        "def f():\n    from codes import services\n    return services\n"
    )
    (app / "apis.py").write_text("import config.settings.base\n")
    assert layering_violations("ecard", tmp_path) == [
        "ecard/apis.py imports config",
        "ecard/services/cards.py imports codes",
    ]


def test_the_size_check_catches_a_long_module_without_its_reason(tmp_path):
    long_body = "x = 1\n" * (SERVICE_MODULE_LIMIT + 1)
    plain = tmp_path / "plain.py"
    plain.write_text(long_body)
    explained = tmp_path / "explained.py"
    explained.write_text(f'"""{REASON_MARK} the state machine reads best in one place."""\n' + long_body)
    assert oversized_service_modules([plain, explained]) == ["plain.py"]


# Tests mirror the code: tests/<app>/… by module, tests/api/ for HTTP contracts, tests/browser/
# for what a person sees, tests/ops/ for deployment, stores and servers; at the top only the tests
# about the whole house.
APPS = {"accounts", "ecard", "codes", "plumbing"}
TEST_FOLDERS = APPS | {"api", "browser", "ops"}
ABOUT_THE_WHOLE = {
    "test_layout.py",
    "test_i18n.py",
    "test_documents.py",
    "test_attackers_model.py",
    "test_card_life_model.py",
}


def misplaced_tests(tests: Path, root: Path = ROOT) -> list[str]:
    misplaced = []
    for path in sorted(tests.rglob("test_*.py")):
        parts = path.relative_to(tests).parts
        if len(parts) == 1:
            placed = parts[0] in ABOUT_THE_WHOLE
        else:
            placed = parts[0] in TEST_FOLDERS and (
                parts[0] not in APPS or (root / Path(*parts[:-1])).is_dir()
            )
        if not placed:
            misplaced.append("/".join(parts))
    return misplaced


def test_each_test_module_sits_in_the_folder_of_the_code_it_tests():
    assert len(list((ROOT / "tests").rglob("test_*.py"))) > 40
    assert misplaced_tests(ROOT / "tests") == []


def test_the_placement_check_catches_a_flat_test_and_one_under_a_package_the_app_lacks(tmp_path):
    for name in (
        "test_cards.py",
        "ecard/services/test_losses.py",
        "ecard/views/test_x.py",
        "api/test_auth.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert misplaced_tests(tmp_path) == ["ecard/views/test_x.py", "test_cards.py"]
