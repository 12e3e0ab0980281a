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


def test_a_seen_seq_arriving_long_after_its_time_is_a_replay_not_a_redelivery() -> None:
    t = SequenceTracker()
    for seq in range(1, 101):
        t.check("d", seq, 1000.0 + 60 * seq, received_at=1000.5 + 60 * seq)
    assert t.check("d", 100, 7000.0, received_at=7002.0) == ("duplicate", 0)
    assert t.check("d", 40, 3400.0, received_at=7010.0) == ("replayed", 0)
    t.seed("e", 50, 4000.0)
    assert t.check("e", 40, 3400.0, received_at=9000.0) == ("duplicate", 0)


def test_a_taken_seq_with_a_newer_time_is_a_conflict_and_a_low_one_a_restart() -> None:
    t = SequenceTracker()
    for seq in range(1, 51):
        t.check("d", seq, 60.0 * seq)
    assert t.check("d", 51, 60.0 * 50 + 30) == ("new", 0)  # the forger takes seq 51
    assert t.check("d", 51, 60.0 * 51) == ("conflict", 0)  # the device sends its 51
    assert t.check("d", 52, 60.0 * 51 + 30) == ("new", 0)
    assert t.check("d", 52, 60.0 * 52) == ("conflict", 0)
    assert t.check("d", 1, 60.0 * 60) == ("reset", 0)


def test_a_backlog_redelivered_after_a_broker_restart_is_no_replay() -> None:
    t = SequenceTracker()
    # an hour of old readings drained in seconds, then the broker resends the last 500
    for seq in range(1, 1001):
        t.check("d", seq, 1000.0 + seq, received_at=9000.0 + seq / 100)
    verdicts = {t.check("d", seq, 1000.0 + seq, received_at=9030.0)[0] for seq in range(500, 1001)}
    assert verdicts == {"duplicate"}
