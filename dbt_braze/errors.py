"""Every error dbt-braze raises for its user, each carrying the exit code it ends a run with.

Exit codes (DESIGN.md section 2): 0 everything delivered; 1 finished, some rows rejected;
2 usage or configuration error, nothing sent; 3 aborted, what Braze acknowledged is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3


class DbtBrazeError(Exception):
    """An expected failure: shown as one sentence, never as a traceback (unless --debug)."""

    exit_code = EXIT_ABORTED


class UsageError(DbtBrazeError):
    """Bad input (flags, project, artifacts, configuration): nothing was sent."""

    exit_code = EXIT_USAGE


class ManifestError(UsageError):
    """The project's artifacts are missing or unreadable: run dbt first."""


class SelectionError(UsageError):
    """dbt could not resolve the selection."""


@dataclass(frozen=True)
class ConfigProblem:
    model: str
    key: str
    message: str

    def __str__(self) -> str:
        key = f"meta.braze.{self.key}" if self.key else "meta.braze"
        return f"{self.model}: {key}: {self.message}"


class ConfigErrors(UsageError):
    """Every configuration problem of every model, found before anything is sent."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s):\n{lines}")


class Aborted(DbtBrazeError):
    """The run stopped part way. What Braze acknowledged is recorded, nothing else."""

    exit_code = EXIT_ABORTED


class WarehouseError(Aborted):
    """The warehouse could not be opened or a statement failed."""

    def __str__(self) -> str:
        return f"warehouse error: {super().__str__()}"


class LockHeld(Aborted):
    """Another run of this project and target holds the warehouse lock."""


class LockLost(Aborted):
    """This run's lease on the lock ran out, or another run took it over: it stops before
    committing or sending more."""


class Interrupted(Aborted):
    """Ctrl-C or SIGTERM: sending stopped between requests."""


class BrazeConfigError(UsageError):
    """The endpoint or key is unusable before any request is sent."""


class BrazeError(Aborted):
    """Braze refused a whole request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BrazeAuthError(BrazeError):
    """401/403: wrong key, missing permission or wrong cluster. Retrying cannot help."""


class BrazeRateLimited(BrazeError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after  # seconds, from Retry-After or the window's reset


class BrazeUnavailable(BrazeError):
    """No well-formed answer: a 5xx, a timeout, a lost connection or a body that is not
    Braze's. `maybe_processed` says whether Braze may have applied the request anyway."""

    def __init__(self, message: str, status: int | None = None, maybe_processed: bool = True):
        super().__init__(message, status)
        self.maybe_processed = maybe_processed


class BrazeUnreachable(BrazeError):
    """Nothing answers at the REST endpoint: a wrong endpoint, no network, the emulator not
    running. Checked before anything is sent."""


class BrazeBadRequest(BrazeError):
    """400 or 413 for the whole batch: something in it is unacceptable; split to find it."""

    def __init__(
        self, message: str, status: int | None = None, answer: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, status)
        self.answer = answer  # Braze's JSON answer, when it gave one


class BrazeItemsRefused(BrazeBadRequest):
    """A catalog request refused for some of its items, named by id: those are rejected, the
    others go again without them."""

    def __init__(self, message: str, refused: dict[str, str]) -> None:
        super().__init__(message, 400)
        self.refused = refused  # item id -> Braze's reason


class BudgetSpent(Aborted):
    """Braze's request budget (an hourly one, on newer contracts) is spent for longer than the
    run may wait: it stops between requests, what was acknowledged recorded; the next run
    sends the rest."""


class RetriesExhausted(Aborted):
    """Braze kept failing a request: the run stops, keeping what was acknowledged."""
