"""The credit matrix's AUC table after `riskstream backtest --outcomes`."""

from rich.table import Table

from riskstream.backtest.component_auc import PREDICTORS, AucCell, auc_table, label
from riskstream.backtest.outcomes_file import LoanOutcome
from riskstream.cli.terminal import command_console
from riskstream.engine.core import Engine
from riskstream.rules.schema import RuleSet

console = command_console()


def _cell(cell: AucCell) -> str:
    auc = "n/a" if cell.auc is None else f"{cell.auc:.3f}"
    return f"{auc} ({cell.snapshots:,}/{cell.positives:,})"


def report_matrix(
    engine: Engine, rules: RuleSet, outcomes: list[LoanOutcome], end: float
) -> dict[str, dict[str, AucCell]]:
    """Print, per segment, the AUC of each component, the matrix and the scorecard."""
    snapshots = engine.scoring.snapshot_log or []
    labelled = label(snapshots, outcomes, rules.models.horizon, end)
    table = auc_table(labelled)
    days = rules.models.horizon / 86_400
    out = Table(
        title=f"ROC AUC of a bad outcome (missed payment or default) within {days:g} days "
        "of a daily snapshot; (snapshots/bad)",
        title_justify="left",
    )
    out.add_column("segment")
    for name in PREDICTORS:
        out.add_column(name, justify="right")
    for segment, row in table.items():
        out.add_row(segment, *(_cell(row[p]) for p in PREDICTORS))
    console.print(out)
    return table
