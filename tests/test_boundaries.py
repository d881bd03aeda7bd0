"""The structure the code keeps, checked over the source tree (no database needed).

- The ledger's boundary: outside `ledger/`, code imports only its public modules, never
  its journal or internals, writes no SQL against `ledger_*` tables and uses no manager
  of its journal models (reads and writes go through ledger.services and .selectors).
- Locks are taken in `locks.py` modules only (the order is ledger.locks').
- Imports between apps go one way (no cycle; invoicing and settlement read
  metering's records, metering imports neither), and inside an app models never
  import services, selectors or views.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "config",
    "ledger",
    "pricing",
    "wallets",
    "payments",
    "credit",
    "invoicing",
    "settlement",
    "metering",
    "webhooks",
    "portal",
)
# What other apps may use of the ledger, and why each is public:
LEDGER_PUBLIC = {
    "ledger.services": "every write",
    "ledger.selectors": "every read",
    "ledger.locks": "the lock order, and locks on balances for decisions",
    "ledger.models": "foreign keys to books, assets, accounts, events, holds; their enums",
    "ledger.errors": "the errors ledger services raise",
    "ledger.amounts": "decimal strings <-> minor units at the API's edge",
    "ledger.posting_rules": "the registry and types an app's postings.py uses",
    "ledger.admin": "the read-only admin base class",
    "ledger.permissions": "the finance role's API permission",
    "ledger.demo": "the demo's actor and scale",
}
# The ledger's own profile of its tables' layers (it measures COPY into ledger_posting).
BOUNDARY_EXEMPT = {"benchmarks/ledger_profile.py"}
LEDGER_TABLE = re.compile(
    r"\bledger_(event|entry|posting|balance|account|hold|holdresolution|book|asset)\b"
)
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|COPY|TRUNCATE)\b")
JOURNAL_MODELS = {"Account", "Balance", "Entry", "Event", "Posting", "Hold", "HoldResolution"}
LOCKING = re.compile(r"select_for_update|pg_advisory")
# Which apps an app may import (besides itself and config): the layers, bottom up.
MAY_IMPORT = {
    "config": set(),
    "ledger": set(),
    "pricing": {"ledger"},
    "wallets": {"ledger", "pricing"},
    # payments' low-balance alerts are webhooks events (webhooks delivers them).
    "payments": {"wallets", "ledger", "pricing", "webhooks"},
    # credit reads invoicing's receivables (aging, exposure), so invoicing does not import it;
    # its dunning charges the card saved for payments' auto top-up.
    "credit": {"invoicing", "payments", "wallets", "ledger", "pricing", "webhooks"},
    # invoicing reads metering's usage (through metering.selectors) and payments' top-ups.
    "invoicing": {"metering", "payments", "wallets", "ledger", "pricing", "webhooks"},
    "settlement": {"metering", "wallets", "ledger", "pricing"},
    "metering": {"wallets", "ledger", "pricing"},
    # Outbound webhooks to sellers: below every app that emits events, above the ledger;
    # it reads wallets' book memberships (a reseller's staff manage their book's endpoints).
    "webhooks": {"ledger", "wallets"},
    # The customer portal's pages sit on top: they read and write through the apps below.
    "portal": {
        "wallets",
        "payments",
        "credit",
        "invoicing",
        "metering",
        "ledger",
        "pricing",
        "settlement",
    },
}


@dataclass(frozen=True)
class Source:
    path: str  # relative to the repository
    app: str | None
    tree: ast.Module

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def _sources(*roots: str) -> list[Source]:
    found = []
    for root in roots:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if "/migrations/" in relative:
                continue  # history: migrations name tables and run SQL by design
            app = relative.split("/")[0]
            found.append(
                Source(relative, app if app in APPS else None, ast.parse(path.read_text()))
            )
    return found


def _app_sources() -> list[Source]:
    return _sources(*[app for app in APPS if (REPO_ROOT / app).is_dir()])


def _imports(source: Source) -> set[str]:
    """Every module a file imports (`from ledger import services` is ledger.services)."""
    names = set()
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _strings(source: Source) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(source.tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_tree_is_where_this_test_looks():
    assert {source.app for source in _app_sources()} >= {"ledger", "wallets", "metering"}


def test_outside_the_ledger_only_its_public_modules_are_imported():
    wrong = []
    for source in _app_sources() + _sources("benchmarks"):
        if source.app == "ledger" or source.path in BOUNDARY_EXEMPT:
            continue
        for name in sorted(_imports(source)):
            if _top(name) != "ledger" or name == "ledger":
                continue
            module = ".".join(name.split(".")[:2])
            # `from ledger.models import Account` names ledger.models.Account: its module counts.
            if module not in LEDGER_PUBLIC:
                wrong.append(f"{source.path} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_outside_the_ledger_no_sql_names_a_ledger_table():
    wrong = [
        f"{source.path}:{line}: {text.strip()[:80]!r}"
        for source in _app_sources() + _sources("benchmarks")
        if source.app != "ledger" and source.path not in BOUNDARY_EXEMPT
        for line, text in _strings(source)
        if LEDGER_TABLE.search(text) and SQL.search(text)
    ]
    assert not wrong, "\n".join(wrong)


def test_outside_the_ledger_no_manager_of_its_journal_models_is_used():
    wrong = []
    for source in _app_sources():
        if source.app == "ledger":
            continue
        for node in ast.walk(source.tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "objects"
                and isinstance(node.value, ast.Name)
                and node.value.id in JOURNAL_MODELS
            ):
                wrong.append(f"{source.path}:{node.lineno}: {node.value.id}.objects")
    assert not wrong, "\n".join(wrong)


def test_locks_are_taken_in_locks_modules_only():
    wrong = [
        f"{source.path}:{line}"
        for source in _app_sources()
        if not source.path.endswith("/locks.py")
        for line, text in _strings(source) + _calls(source)
        if LOCKING.search(text)
    ]
    assert not wrong, "\n".join(wrong)


def _calls(source: Source) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.attr)
        for node in ast.walk(source.tree)
        if isinstance(node, ast.Attribute) and node.attr == "select_for_update"
    ]


def test_imports_between_apps_go_one_way():
    wrong = []
    for source in _app_sources():
        allowed = MAY_IMPORT[source.app] | {source.app, "config"}
        for name in sorted(_imports(source)):
            target = _top(name)
            if target in APPS and target not in allowed:
                wrong.append(f"{source.path} ({source.app}) imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_allowed_arrows_have_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in MAY_IMPORT[start]
        )

    assert not [app for app in MAY_IMPORT if reaches(app, app)]
    # Metering sits at the top of the usage path: it imports none of the apps that read
    # its records (invoicing bills them, settlement draws commitments down with them).
    assert not MAY_IMPORT["metering"] & {
        app for app, below in MAY_IMPORT.items() if "metering" in below
    }


def test_models_import_no_services_selectors_or_views():
    wrong = []
    for source in _app_sources():
        if not source.path.endswith("models.py"):
            continue
        for name in _imports(source):
            parts = name.split(".")
            if _top(name) in APPS and {"services", "selectors", "api"} & set(parts[1:]):
                wrong.append(f"{source.path} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_services_selectors_and_locks_import_no_views():
    """api -> services -> models: the write and read layers never reach back up."""
    layers = ("services.py", "selectors.py", "locks.py", "postings.py")
    wrong = []
    for source in _app_sources():
        if not source.path.endswith(layers):
            continue
        for name in _imports(source):
            if _top(name) in APPS and "api" in name.split(".")[1:]:
                wrong.append(f"{source.path} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_posting_rule_modules_are_pure():
    """A posting rule reads nothing but its payload (it is replayed by ledger_verify and
    ledger_rebuild): its module touches no database."""
    wrong = []
    for source in _app_sources():
        if not source.path.endswith(("postings.py", "ledger/posting_rules.py")):
            continue
        for name in _imports(source):
            if name.startswith("django.db"):
                wrong.append(f"{source.path} imports {name}")
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Attribute) and node.attr in ("objects", "cursor"):
                wrong.append(f"{source.path}:{node.lineno}: .{node.attr}")
    assert not wrong, "\n".join(wrong)
