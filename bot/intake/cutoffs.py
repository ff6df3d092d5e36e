"""The score cut-offs every score, count, quote and sentiment uses (README "Scores are defined as follows").

Standard library only: `cxloop scores` reads these without loading pydantic (bench/bench_cli_start.py).
"""

PROMOTER_MIN = 9   # NPS 9-10: promoters
DETRACTOR_MAX = 6  # NPS 0-6: detractors (7-8: passives)
SATISFIED_MIN = 4  # CSAT 4-5: satisfied; CES 4-5: agree
UNHAPPY_MAX = 2    # CSAT and CES 1-2
