"""What the optimization modules (09–14) buy, against the course's published expectations:
int8 ≈ 4× smaller at 98–99 % of the accuracy, 50–75 % of the weights pruned at 95–98 %,
KV-cache generation 6–10× faster.

Two parts. **Accuracy** comes from the mlperf milestone's learning test, run once in a
subprocess on this checkout's ``tinytorch`` (it trains the GPT, then quantizes, prunes and
fine-tunes it, and measures every accuracy itself). **Speed and size** are measured here on
a GPT of realistic width (embed 128, 4 blocks, 256 positions; untrained: time does not
depend on the weights): cached against uncached greedy generation (alternating rounds,
``_timing.compare_ms``), int8 (dequantize and int32-accumulate paths) against float32
inference (medians, ``_timing.median_ms``), and the bytes of each. Not a test: nothing
asserts a number.

    python benchmarks/bench_optimization.py [--repeat 3] [--new-tokens 128] [--batch 1] [--skip-accuracy]
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's tinytorch

from _timing import benchmark_parser, compare_ms, median_ms  # noqa: E402

from tinytorch.core.autograd import no_grad  # noqa: E402
from tinytorch.models.transformer import GPT  # noqa: E402
from tinytorch.nn.modules import Linear  # noqa: E402
from tinytorch.perf.profiling import model_bytes  # noqa: E402
from tinytorch.quant.int8 import QuantizedLinear, quantize_model  # noqa: E402

VOCAB, EMBED, HEADS, LAYERS, MAX_LEN, PROMPT = 64, 128, 4, 4, 256, 16


def milestone_metrics():
    """The metrics the mlperf learning test reports (it measures every accuracy itself),
    from one run exactly as ``tito milestone run mlperf`` makes it."""
    from tito.learning_run import run_learning_test
    from tito.tracker import load_tracker

    verdict = run_learning_test(ROOT, load_tracker(ROOT), "mlperf")
    if not verdict.passed:
        sys.exit(f"the mlperf learning test failed: {verdict.reason}\n{verdict.failure[-3000:]}")
    return verdict.metrics


def accuracy_report(m):
    float_acc = m["accuracy"]
    print(f"accuracy (mlperf milestone: a GPT sorting digits, 500 held-out sequences): float32 {float_acc:.1%}")
    print(f"  int8: {m['int8_accuracy']:.1%} = {m['int8_accuracy'] / float_acc:.1%} of float32 "
          f"(expected 98-99 %); Linear weights {1 / m['int8_weight_fraction']:.2f}x smaller "
          f"(expected ~4x), whole model {m['int8_size_reduction']:.2f}x")
    print(f"  pruned {m['sparsity']:.0%} (global magnitude, 50 fine-tuning steps): {m['pruned_accuracy']:.1%} = "
          f"{m['pruned_accuracy'] / float_acc:.1%} of float32 (expected 95-98 % at 50-75 % sparsity)")


def generation_report(model, repeat, new_tokens, batch):
    prompt = np.random.default_rng(0).integers(0, VOCAB, (batch, PROMPT))
    plain = model.generate(prompt, new_tokens, greedy=True).data
    if not np.array_equal(plain, model.generate(prompt, new_tokens, greedy=True, use_cache=True).data):
        sys.exit("cached and uncached generation disagree")
    uncached, cached = compare_ms(lambda: model.generate(prompt, new_tokens, greedy=True),
                                  lambda: model.generate(prompt, new_tokens, greedy=True, use_cache=True),
                                  repeat=repeat, warmup=1, rounds=repeat)  # alternating rounds: the same load for both
    print(f"generation, {batch} sequences, {new_tokens} tokens after a {PROMPT}-token prompt: no cache {uncached:.0f} ms | "
          f"KV cache {cached:.0f} ms | speed-up {uncached / cached:.1f}x (expected 6-10x)")


def inference_report(model, repeat):
    ids = np.random.default_rng(1).integers(0, VOCAB, (16, 128))
    variants = {"float32": model, "int8, dequantize": quantize_model(model),
                "int8, int32 accumulate": quantize_model(model, accumulate="int32")}
    with no_grad():
        times = {name: median_ms(lambda m=m: m(ids), repeat=repeat, warmup=1) for name, m in variants.items()}
    line = " | ".join(f"{name} {ms:.1f} ms ({times['float32'] / ms:.2f}x)" for name, ms in times.items())
    print(f"inference, 16 x 128 tokens: {line}")
    linear = sum(m.weight.data.nbytes for _, m in model.named_modules() if isinstance(m, Linear))
    int8 = sum(m.weight_int8.nbytes + m.scale.nbytes for _, m in variants["int8, dequantize"].named_modules()
               if isinstance(m, QuantizedLinear))
    whole, small = model_bytes(model), model_bytes(variants["int8, dequantize"])
    print(f"size: Linear weights {linear:,} -> {int8:,} bytes ({linear / int8:.2f}x smaller); "
          f"whole model {whole:,} -> {small:,} bytes ({whole / small:.2f}x)")


def main():
    parser = benchmark_parser(__doc__, repeat=3, warmup=1)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1, help="sequences generated together")
    parser.add_argument("--skip-accuracy", action="store_true", help="do not run the mlperf learning test")
    args = parser.parse_args()
    if not args.skip_accuracy:
        accuracy_report(milestone_metrics())
    np.random.seed(0)
    model = GPT(VOCAB, EMBED, HEADS, LAYERS, MAX_LEN)
    generation_report(model, args.repeat, args.new_tokens, args.batch)
    inference_report(model, args.repeat)


if __name__ == "__main__":
    main()
