from ingest.sequence import WINDOW, SequenceTracker


def test_in_order_then_duplicates_gaps_late_fill() -> None:
    t = SequenceTracker()
    assert t.check("d", 1, 10.0) == ("new", 0)
    assert t.check("d", 2, 11.0) == ("new", 0)
    assert t.check("d", 2, 11.0) == ("duplicate", 0)
    assert t.check("d", 5, 14.0) == ("new", 2)
    assert t.missing["d"] == 2
    assert t.check("d", 4, 13.0) == ("late", 0)
    assert t.missing["d"] == 1
    assert t.check("d", 4, 13.0) == ("duplicate", 0)
    assert t.check("d", 1, 10.0) == ("duplicate", 0)


def test_old_seq_outside_window_is_a_replay_and_reboot_is_a_reset() -> None:
    t = SequenceTracker()
    for seq in range(1, WINDOW + 201):
        t.check("d", seq, 1000.0 + seq)
    assert t.check("d", 3, 1003.0) == ("replayed", 0)
    assert t.check("d", 1, 9000.0) == ("reset", 0)
    assert t.check("d", 2, 9001.0) == ("new", 0)


def test_seeded_high_water_makes_redeliveries_duplicates() -> None:
    t = SequenceTracker()
    t.seed("d", 500, 2000.0)
    assert t.check("d", 7, 1507.0) == ("duplicate", 0)
    assert t.check("d", 499, 1999.0) == ("duplicate", 0)
    assert t.check("d", 501, 2001.0) == ("new", 0)


def test_unsequenced_dedup_by_time_and_metric() -> None:
    t = SequenceTracker()
    assert t.check_unsequenced("d", 1.0, "a_kg") == "new"
    assert t.check_unsequenced("d", 1.0, "b_c") == "new"
    assert t.check_unsequenced("d", 1.0, "a_kg") == "duplicate"
    assert t.check_unsequenced("e", 1.0, "a_kg") == "new"
