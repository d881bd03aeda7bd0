"""The settlement app's tables, kept per domain in its sub-packages."""

from settlement.commitments.models import *  # noqa: F403
from settlement.reconciliation.models import *  # noqa: F403
from settlement.statements.models import *  # noqa: F403
