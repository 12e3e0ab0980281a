"""A suggested ``[scoring.matrix]`` from a backtest's component AUC table.

Per segment with at least `MIN_POSITIVES` bad-outcome snapshots, a component's weight
is its skill, ``max(0, AUC - 0.5)``, divided by the segment's total skill; a segment
with too few bad outcomes (or no skilled component) keeps the weights in force. The
text is a TOML fragment that replaces the rules file's ``[scoring.matrix]`` tables; a
risk admin reviews it and applies it as any rules change (dry-run first).
"""

import json

from riskstream.backtest.component_auc import ALL, AucCell
from riskstream.rules.matrix import COMPONENTS, MatrixSettings, Segment, Weights

MIN_POSITIVES = 10


def learned_weights(row: dict[str, AucCell], current: Weights) -> tuple[Weights, bool]:
    """The row's learned weights, or ``current`` (and False) when it cannot learn."""
    if max((row[c].positives for c in COMPONENTS), default=0) < MIN_POSITIVES:
        return current, False
    skill: dict[str, float] = {}
    for c in COMPONENTS:
        auc = row[c].auc
        enough = auc is not None and row[c].positives >= MIN_POSITIVES
        skill[c] = max(0.0, auc - 0.5) if auc is not None and enough else 0.0
    total = sum(skill.values())
    if total <= 0:
        return current, False
    return Weights(**{c: round(s / total, 2) for c, s in skill.items()}), True


def _weights_toml(header: str, weights: Weights, row: dict[str, AucCell] | None) -> list[str]:
    lines = [header]
    for name, value in weights.as_dict().items():
        note = ""
        if row is not None:
            cell = row[name]
            auc = "n/a" if cell.auc is None else f"{cell.auc:.3f}"
            note = f"  # AUC {auc}, {cell.snapshots} snapshots, {cell.positives} bad"
        lines.append(f"{name} = {value:g}{note}")
    return lines


def _segment_toml(segment: Segment) -> list[str]:
    lines = ["[[scoring.matrix.segments]]", f"name = {json.dumps(segment.name)}"]
    if segment.industry:
        lines.append(f"industry = {json.dumps(segment.industry)}")
    if segment.size:
        lines.append(f"size = {json.dumps(segment.size)}")
    if segment.min_history_days:
        lines.append(f"min_history_days = {segment.min_history_days:g}")
    if segment.max_history_days is not None:
        lines.append(f"max_history_days = {segment.max_history_days:g}")
    if segment.fields:
        inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in segment.fields.items())
        lines.append(f"fields = {{ {inner} }}")
    return lines


def suggest_matrix(settings: MatrixSettings, table: dict[str, dict[str, AucCell]]) -> str:
    """The TOML text of a suggested ``[scoring.matrix]`` (the segments of ``settings``,
    weights learned where the table allows)."""
    out = [
        "# Suggested by `riskstream backtest --suggest-matrix`: weights ∝ max(0, AUC - 0.5)",
        f"# per segment with at least {MIN_POSITIVES} bad-outcome snapshots; other rows keep",
        "# the weights in force. Review, then replace [scoring.matrix] in the rules file.",
        "[scoring.matrix]",
        f"min_history_days = {settings.min_history_days:g}",
        f"small_below = {settings.small_below:g}",
        f"large_from = {settings.large_from:g}",
        "",
    ]
    row = table.get("default") or table.get(ALL)
    weights, learned = learned_weights(row, settings.default) if row else (settings.default, False)
    header = "[scoring.matrix.default]" + ("" if learned else "  # kept: too few bad outcomes")
    out += [*_weights_toml(header, weights, row if learned else None), ""]
    for segment in settings.segments:
        seg_row = table.get(segment.name)
        weights, learned = (
            learned_weights(seg_row, segment.weights) if seg_row else (segment.weights, False)
        )
        header = "[scoring.matrix.segments.weights]" + (
            "" if learned else "  # kept: too few bad outcomes"
        )
        out += [
            *_segment_toml(segment),
            *_weights_toml(header, weights, seg_row if learned else None),
            "",
        ]
    return "\n".join(out)
