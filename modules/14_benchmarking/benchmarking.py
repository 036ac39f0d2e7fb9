# %% [markdown]
# # Module 14 — Benchmarking: the MLPerf way
#
# *MLPerf's rules, for your own models.*
#
# By 2018 every chip maker and every framework claimed to be the fastest at deep
# learning, each on its own model, its own batch size and its own definition of
# "done". Comparing two claims was impossible. That year researchers from Baidu,
# Google, Harvard, Stanford and UC Berkeley, soon joined by most of the industry,
# founded **MLPerf** (now run by MLCommons): one set of models and data sets, and rules
# that make numbers comparable. Its training benchmark (Mattson et al., 2020) times how
# long a system takes to reach a **fixed quality target**; its inference benchmark
# (Reddi et al., 2020) measures latency and throughput **only for results that keep
# the accuracy**, e.g. at least 99 % of the float32 reference's.
#
# That last rule is the heart of it: a faster model that got worse is not a result.
# Modules 10–13 gave you four ways to make a model faster or smaller; this module
# builds the harness that decides whether each one is a result:
#
# | you build | MLPerf's idea |
# |---|---|
# | `latency_percentiles` | latency is a distribution: report p50, p90 and p99, not a mean |
# | `BenchmarkResult.throughput` | how many items per second, a different number from 1 / latency |
# | `meets_quality` | accuracy at a fixed target: ≥ 99 % of the reference |
# | `benchmark`, `compare`, `report` | every variant measured the same way, side by side |

# %%
#| default_exp perf.benchmark
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer 09_profiling 10_quantization 11_compression 12_kv_cache 13_acceleration
#| export
import numpy as np

from tinytorch.perf.profiling import text_table, time_function

# %% [markdown]
# ## Latency is a distribution
#
# Time the same forward pass 100 times and you get 100 different numbers, with a long
# tail on the right (module 09). Which one is "the latency"? MLPerf answers with
# **percentiles**: p90 is the time that 90 % of the queries beat.
#
# - **p50** (the median) is the typical query.
# - **p90 / p99** are what the *unlucky* user sees. A web page that makes 100 model
#   calls waits for the slowest: at p99 = 50 ms, most page loads include a 50 ms call.
#   "The Tail at Scale" (Dean and Barroso, 2013) made this Google's design rule.
#
# A mean hides the tail and is dragged by single outliers; the minimum is the best case
# that never repeats. MLPerf's *single-stream* scenario reports the p90 of one query at
# a time; its *server* scenario sends queries at random times and requires the p99 to
# stay under a bound (e.g. 15 ms for ResNet-50).
#
# `latency_percentiles(times)` takes per-call times in **seconds** (what
# `time_function` returns) and gives p50, p90 and p99 in **milliseconds**, with NumPy's
# `np.percentile` (linear interpolation between samples).

# %%
#| export
def latency_percentiles(times):
    """{'p50', 'p90', 'p99'} in milliseconds, from per-call times in seconds."""
    ### BEGIN SOLUTION
    p50, p90, p99 = np.percentile(np.asarray(times, dtype=np.float64), [50, 90, 99]) * 1e3
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}
    ### END SOLUTION


# %%
def test_unit_latency_percentiles():
    """Checks `latency_percentiles`: p50, p90 and p99 of times given in *seconds*, returned in
    *milliseconds* as Python floats, with NumPy's linear interpolation (the p90 of 1 … 100 ms is
    90.1). `np.percentile` takes percentages (50, 90, 99), `np.quantile` fractions; convert the unit
    once.
    """
    times = np.arange(1, 101) / 1000.0  # 1 ms ... 100 ms
    p = latency_percentiles(times)
    assert set(p) == {"p50", "p90", "p99"}
    assert np.isclose(p["p50"], 50.5) and np.isclose(p["p90"], 90.1) and np.isclose(p["p99"], 99.01)
    assert p["p50"] <= p["p90"] <= p["p99"]
    tail = latency_percentiles([0.001] * 95 + [0.1] * 5)
    assert tail["p50"] == 1.0 and tail["p99"] == 100.0, "the median ignores the tail; p99 sees it"


if __name__ == "__main__":
    test_unit_latency_percentiles()

# %% [markdown]
# ## Throughput, and one result per variant
#
# **Throughput** is items per second over the whole run: the number of items processed
# divided by the time it took. With one item per call it is 1 / mean latency; with a
# batch of 64 per call it can be 30 times higher than that (module 13) while each call —
# the latency — gets slower. MLPerf's *offline* scenario measures exactly this: all the
# queries at once, as fast as possible.
#
# `BenchmarkResult` keeps the raw per-call `times` (seconds), how many `items` each call
# processes, and — when you measured them — the variant's `accuracy` and `size_bytes`.
# The percentiles are computed from the raw times, so anyone can check them.
# `benchmark(name, fn, items, ...)` times `fn` with module 09's `time_function` (warm-up,
# repeats, `perf_counter`) and returns the result.

# %%
#| export
class BenchmarkResult:
    """One variant's measurement: raw per-call ``times`` (s), ``items`` per call, optional accuracy and size."""

    def __init__(self, name, times, items=1, accuracy=None, size_bytes=None):
        self.name, self.times, self.items = name, np.asarray(times, dtype=np.float64), items
        self.accuracy, self.size_bytes = accuracy, size_bytes

    @property
    def latency(self):
        """{'p50', 'p90', 'p99'} per call, in milliseconds."""
        return latency_percentiles(self.times)

    @property
    def throughput(self):
        """Items per second over all timed calls."""
        ### BEGIN SOLUTION
        return float(self.items * len(self.times) / self.times.sum())
        ### END SOLUTION

    def __repr__(self):
        return f"BenchmarkResult({self.name!r}, p50={self.latency['p50']:.3f} ms, {self.throughput:,.0f} items/s)"


def benchmark(name, fn, items=1, repeat=20, warmup=3, accuracy=None, size_bytes=None):
    """Time ``fn()`` (``items`` per call) after ``warmup`` calls, ``repeat`` times; a BenchmarkResult."""
    return BenchmarkResult(name, time_function(fn, repeat=repeat, warmup=warmup), items=items,
                           accuracy=accuracy, size_bytes=size_bytes)


# %%
import time


def test_unit_benchmark_result():
    """Checks `BenchmarkResult.throughput`: items per second over the whole run, all items processed
    divided by all the time they took — four calls of 8 items in 0.1 s are 320 items/s — not items
    divided by the median or mean latency.
    """
    result = BenchmarkResult("x", [0.01, 0.02, 0.03, 0.04], items=8)
    assert np.isclose(result.throughput, 8 * 4 / 0.1), "items per second over the whole run"
    assert np.isclose(result.latency["p50"], 25.0)
    calls = []
    timed = benchmark("sleep", lambda: calls.append(time.sleep(0.001)), items=2, repeat=6, warmup=2)
    assert len(calls) == 8 and timed.times.shape == (6,) and timed.items == 2
    assert timed.latency["p50"] >= 1.0 and timed.throughput <= 2 / 0.001
    assert "sleep" in repr(timed)


if __name__ == "__main__":
    test_unit_benchmark_result()

# %% [markdown]
# ## The quality target, and the report
#
# A variant counts only if it keeps the accuracy: `meets_quality(accuracy, reference,
# target=0.99)` is true when `accuracy ≥ target × reference` — MLPerf's "99 % of FP32"
# (some benchmarks also have a stricter 99.9 % category). A variant with no accuracy
# measured cannot meet a quality target.
#
# `compare(results, quality_target)` lays the variants side by side against the first
# one, the **baseline** (the float32 model, as in MLPerf's reference): one row per
# variant with its p50/p90/p99, throughput, **speed-up** (baseline p50 / its p50),
# **size** relative to the baseline's bytes, accuracy and whether it meets the target.
# `report(results)` prints those rows as a table.

# %%
#| export
def meets_quality(accuracy, reference_accuracy, target=0.99):
    """MLPerf's rule: does ``accuracy`` reach ``target`` × the reference's accuracy?"""
    ### BEGIN SOLUTION
    if accuracy is None or reference_accuracy is None:
        return False
    return bool(accuracy >= target * reference_accuracy)
    ### END SOLUTION


def compare(results, quality_target=0.99):
    """One dict per result, side by side with the first (the baseline): latency, throughput, speed-up, size, quality."""
    baseline = results[0]
    ### BEGIN SOLUTION
    rows = []
    for result in results:
        size = None
        if result.size_bytes is not None and baseline.size_bytes:
            size = result.size_bytes / baseline.size_bytes
        rows.append({
            "name": result.name, **result.latency, "throughput": result.throughput,
            "speedup": baseline.latency["p50"] / result.latency["p50"],
            "size": size, "accuracy": result.accuracy,
            "meets_quality": meets_quality(result.accuracy, baseline.accuracy, quality_target),
        })
    return rows
    ### END SOLUTION


def report(results, quality_target=0.99, title="Benchmark"):
    """``compare``'s rows as a text table (a rich table when rich is installed)."""
    header = ("variant", "p50 ms", "p90 ms", "p99 ms", "items/s", "speed-up", "size", "accuracy",
              f"≥ {quality_target:.0%} of baseline")
    body = []
    for row in compare(results, quality_target):
        body.append((row["name"], f"{row['p50']:.3f}", f"{row['p90']:.3f}", f"{row['p99']:.3f}",
                     f"{row['throughput']:,.0f}", f"{row['speedup']:.2f}×",
                     "—" if row["size"] is None else f"{row['size']:.1%}",
                     "—" if row["accuracy"] is None else f"{row['accuracy']:.1%}",
                     "yes" if row["meets_quality"] else "no"))
    return text_table(header, body, title=title)


# %%
def test_unit_compare_and_report():
    """Checks `meets_quality` and `compare`: the target is a fraction of the reference's accuracy, a
    missing accuracy never meets it, the first result is the baseline and meets its own target,
    speed-up is the baseline's p50 over the variant's (not the inverse), and size is None when
    either size is unknown. Each row needs the keys `report` reads: name, p50, p90, p99, throughput,
    speedup, size, accuracy, meets_quality.
    """
    assert meets_quality(0.985, 0.99) and not meets_quality(0.97, 0.99)
    assert meets_quality(0.9801, 0.99) and not meets_quality(0.9800, 0.99, target=0.999)
    assert not meets_quality(None, 0.99), "no accuracy measured, no result"
    base = BenchmarkResult("float32", [0.004] * 10, items=4, accuracy=0.99, size_bytes=1000)
    fast = BenchmarkResult("int8", [0.002] * 10, items=4, accuracy=0.985, size_bytes=280)
    bad = BenchmarkResult("broken", [0.001] * 10, items=4, accuracy=0.5)
    rows = compare([base, fast, bad])
    assert [r["name"] for r in rows] == ["float32", "int8", "broken"]
    assert np.isclose(rows[1]["speedup"], 2.0) and np.isclose(rows[1]["size"], 0.28)
    assert rows[0]["speedup"] == 1.0 and rows[0]["meets_quality"], "the baseline meets its own target"
    assert rows[1]["meets_quality"] and not rows[2]["meets_quality"], "faster but worse is not a result"
    assert rows[2]["size"] is None
    text = report([base, fast, bad])
    assert "int8" in text and "2.00×" in text and "28.0%" in text and "no" in text


if __name__ == "__main__":
    test_unit_compare_and_report()

# %% [markdown]
# ## A benchmark of everything you built
#
# The cell below runs the harness on the milestone-sized GPT (untrained, so its
# "accuracy" here is the fraction of positions where a variant predicts the same token
# as the float model — the milestone measures the real task accuracy of a trained one).
# On the course machine, for a batch of 64 sequences of 12 tokens:
#
# | variant | p50 | speed-up | size | same prediction as float |
# |---|---|---|---|---|
# | float32 | 3.9 ms | 1.00× | 100 % | 100 % |
# | int8 (dequantize) | 3.8 ms | 1.04× | 40 % | 99.3 % |
# | pruned 50 % | 3.9 ms | 1.02× | 121 % | 51 % |
# | fused | 3.0 ms | 1.31× | 100 % | 100 % |
#
# Read it as MLPerf would. Int8 keeps the predictions at the same speed with 40 % of
# the bytes (NumPy has no int8 kernels; on hardware that has them it would also be
# faster). Pruning *unstructured* is no faster and, while it keeps its masks, *larger*
# (the masks are stored too); on an untrained model, whose predictions hang on tiny
# margins, it changes every other prediction — it fails the quality target, which is
# why the milestone prunes a *trained* model and fine-tunes it. Fusion is the only pure
# speed win, and a free
# one. None of this would be visible from one timing of one variant.

# %%
def benchmark_variants():
    import copy

    from tinytorch.compress.pruning import prune_model
    from tinytorch.core.autograd import no_grad
    from tinytorch.perf.acceleration import fuse_for_inference
    from tinytorch.perf.profiling import milestone_gpt, model_bytes
    from tinytorch.quant.int8 import quantize_model

    model = milestone_gpt()
    ids = np.random.default_rng(0).integers(0, 11, (64, 12))
    with no_grad():
        reference = model(ids).data.argmax(-1)
        variants = {"float32": model, "int8 (dequantize)": quantize_model(model),
                    "pruned 50 %": prune_model(copy.deepcopy(model), 0.5), "fused": fuse_for_inference(model)}
        results = []
        for name, variant in variants.items():
            agreement = float(np.mean(variant(ids).data.argmax(-1) == reference))
            results.append(benchmark(name, lambda: variant(ids), items=64, repeat=30, warmup=3,
                                     accuracy=agreement, size_bytes=model_bytes(variant)))
    print(report(results, title="milestone GPT, batch 64 x 12 tokens"))


if __name__ == "__main__":
    benchmark_variants()

# %% [markdown]
# ## Done
#
# `tito module complete 14` exports the harness into `tinytorch/perf/benchmark.py` and
# unlocks the last milestone, **2018 — MLPerf: The Optimization Era**:
#
# ```
# tito milestone run mlperf
# ```
#
# It trains your GPT, then profiles it, quantizes it, prunes it, generates with the
# cache and benchmarks the variants — and checks that each technique did what it
# claims without costing the accuracy the model learned.
