"""Borrower scores: the scorecard, the outcome model and the money at risk."""
