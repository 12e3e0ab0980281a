import pickle
import random

from river import metrics

from riskstream.rules.schema import ModelSettings
from riskstream.scoring.binned_auc import BinnedROCAUC
from riskstream.scoring.outcome_model import OutcomeModel


def exact_auc(pairs: list[tuple[bool, float]]) -> float:
    pos = [p for label, p in pairs if label]
    neg = [p for label, p in pairs if not label]
    won = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return won / (len(pos) * len(neg))


def test_area_matches_the_pairwise_definition() -> None:
    rng = random.Random(7)
    pairs = [
        (label, min(1.0, max(0.0, rng.gauss(0.6 if label else 0.4, 0.15))))
        for label in (rng.random() < 0.2 for _ in range(800))
    ]
    auc = BinnedROCAUC()
    for label, p in pairs:
        auc.update(label, p)
    assert abs(auc.get() - exact_auc(pairs)) < 0.002


def test_one_class_gives_zero_and_ties_give_a_half() -> None:
    auc = BinnedROCAUC()
    auc.update(False, 0.3)
    assert auc.get() == 0.0
    auc.update(True, 0.3)
    assert auc.get() == 0.5
    auc.update(True, 1.0)
    assert auc.get() == 0.75


def test_a_model_from_an_older_checkpoint_starts_its_area_anew() -> None:
    model = OutcomeModel(ModelSettings())
    model.auc = metrics.ROCAUC()  # type: ignore[assignment,no-untyped-call]
    restored = pickle.loads(pickle.dumps(model))
    assert isinstance(restored.auc, BinnedROCAUC)
    restored.expire(0.0)
    assert restored.summary()["auc"] is None
