"""Benchmark: the assistant's offline accuracy, offline speed, and the cost of the model path (not a test).

    .venv/bin/python bench/bench_assist.py            # ~10 s
    .venv/bin/python bench/bench_assist.py --quick    # ~3 s

Prints:
- offline theme and sentiment agreement with the hand-labelled comments of the bundled sample
  (tests/test_assist_offline.py LABELLED) and with the held-out set written after tuning (HELD_OUT,
  the honest figure); with and without the survey score as a hint;
- offline throughput: classifications, drafts and a whole-sample summary per second;
- the model path against the local OpenAI-compatible stand-in with the real `openai` client
  (overhead only: redaction, validation, budget and cache, plus local HTTP; a real model adds its
  own latency), and the cost of a fallback after a malformed answer.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time

from _common import ROOT, percentile, quiet_logs, table  # noqa: F401  (ROOT puts the project on sys.path)


def accuracy() -> list[list[object]]:
    from tests.test_assist_offline import HELD_OUT, LABELLED, measure

    rows = []
    for name, data in (("labelled sample", [(c, s, n, t, m) for c, s, n, t, m in LABELLED]),
                       ("held-out", [(c, None, None, t, m) for c, t, m in HELD_OUT])):
        m = measure(data)
        rows.append([name, m["n"], m["main_theme"], m["themes_exact"], m["precision"], m["recall"], m["sentiment"],
                     m["sentiment_with_score"] if name != "held-out" else float("nan")])
    return rows


def offline_speed(rounds: int) -> list[list[object]]:
    from bot.assist import Assistant, CommentIn, DraftInput

    with (ROOT / "bot" / "data" / "sample_responses.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["comment"].strip()]
    a = Assistant.offline("benchmark")
    out = []
    started = time.perf_counter()
    for _ in range(rounds):
        for r in rows:
            a.classify(r["comment"], survey=r["survey"], score=int(r["score"]))
    n = rounds * len(rows)
    out.append(["classify", n, n / (time.perf_counter() - started)])
    started = time.perf_counter()
    for _ in range(rounds):
        for r in rows:
            a.draft_reply(DraftInput(comment=r["comment"], survey=r["survey"], score=int(r["score"]),
                                     customer_name=r["customer_name"]))
    out.append(["draft", n, n / (time.perf_counter() - started)])
    comments = [CommentIn(id=r["id"], text=r["comment"], survey=r["survey"], score=int(r["score"])) for r in rows]
    started = time.perf_counter()
    for _ in range(rounds):
        a.summarize_week(comments)
    out.append([f"summary of {len(comments)} comments", rounds, rounds / (time.perf_counter() - started)])
    return out


def model_path(calls: int) -> list[list[object]]:
    from bot.assist import Assistant, AssistOptions
    from bot.assist.cache import MemoryCache
    from bot.assist.usage import MemoryUsage
    from bot.config import Settings
    from standins.openai_api import OpenAIStandIn

    rows = []
    with OpenAIStandIn.in_thread() as ai:
        a = Assistant.from_settings(Settings(openai_api_key="sk-test", openai_base_url=ai.base_url),
                                    usage=MemoryUsage(), cache=MemoryCache(),
                                    options=AssistOptions(max_retries=0, timeout=5))
        ai.responder = lambda body: {"themes": ["billing"], "sentiment": "negative"}
        for label, fresh, rid in (("classify, model answers", True, None), ("classify, cache hit", False, 1)):
            a.classify("Charged twice. Call 07700 900461.", response_id=rid)  # warm up / fill the cache
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                a.classify("Charged twice. Call 07700 900461.", response_id=rid, fresh=fresh)
                times.append((time.perf_counter() - t) * 1000)
            rows.append([label, calls, percentile(times, 50), percentile(times, 99)])
        ai.responder = lambda body: "{not json"
        times = []
        for _ in range(max(1, calls // 5)):
            t = time.perf_counter()
            assert a.classify("Charged twice.").method == "offline"
            times.append((time.perf_counter() - t) * 1000)
        rows.append(["malformed twice, then offline", len(times), percentile(times, 50), percentile(times, 99)])
        rows.append(["tokens counted by the stand-in", ai.tokens_used(), float("nan"), float("nan")])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rounds")
    args = p.parse_args()
    quiet_logs()
    logging.getLogger("bot.assist").setLevel(logging.ERROR)  # the malformed-answer rounds warn on purpose
    print("Offline accuracy against hand labels (fractions of comments; precision/recall over theme labels)")
    print(table(["set", "n", "main theme", "exact themes", "precision", "recall", "sentiment", "with score"],
                accuracy()))
    print()
    print("Offline speed (per second, one core)")
    print(table(["what", "n", "per s"], offline_speed(1 if args.quick else 5)))
    print()
    print("Model path against the local stand-in (ms; overhead of cxloop + local HTTP, no model latency)")
    print(table(["what", "calls", "p50 ms", "p99 ms"], model_path(20 if args.quick else 100)))


if __name__ == "__main__":
    main()
