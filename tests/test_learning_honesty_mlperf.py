"""The mlperf milestone's learning test is honest (DESIGN §2): it fails whenever a required
module is missing, whenever one of the techniques it checks is a no-op or wrong, and it
imports nothing from a module it does not require.

Each broken case copies the project with every module exported, breaks one thing in
the *exported* package (as a student's bug would), checks with a probe that the break
took effect, and runs ``test_mlperf_learning`` as ``tito milestone run mlperf`` does: it
must fail, with the assertion that names the technique. (That it passes with exactly its
modules, and fails with the newest one unsolved, is in test_milestone_honesty.py.)
"""

import ast

import pytest

from tito.exporter import generated_source, parse_module
from tito.project import generated_files, resolve_module
from tito.tracker import load_tracker

from conftest import REPO
from honesty import assert_failed, break_class, export_only, probe, run_learning_test

TRACKER = load_tracker(REPO)
REQUIRED = TRACKER.MILESTONES["mlperf"]["requires"]

# name -> (the class whose exported file gets the patch, the lines appended to it,
#          a probe that prints "broken" when the patch is live, what the failure must say)
BREAKS = {
    # A "quantizer" that stores the float32 weights where the int8 ones belong.
    "quantizer_stores_float32": (
        "QuantizedLinear",
        "_from_float = QuantizedLinear.from_float.__func__\n"
        "def _float32(cls, linear, accumulate='float'):\n"
        "    layer = _from_float(cls, linear, accumulate)\n"
        "    layer.weight_int8, layer.scale = linear.weight.data.copy(), np.ones_like(layer.scale)\n"
        "    return layer\n"
        "QuantizedLinear.from_float = classmethod(_float32)",
        "from tinytorch.quant.int8 import quantize_model\n"
        "q = quantize_model(Sequential(Linear(4, 4)))\n"
        "print('broken' if q[0].weight_int8.dtype == np.float32 else 'intact')",
        "Quantized layers hold no int8 array of their weight's shape",
    ),
    # int8 weights are there, but the float32 weights are kept next to them.
    "quantizer_keeps_float32_copy": (
        "QuantizedLinear",
        "_from_float = QuantizedLinear.from_float.__func__\n"
        "def _with_copy(cls, linear, accumulate='float'):\n"
        "    layer = _from_float(cls, linear, accumulate)\n"
        "    layer.weight = Tensor(linear.weight.data.copy())\n"
        "    return layer\n"
        "QuantizedLinear.from_float = classmethod(_with_copy)",
        "from tinytorch.quant.int8 import quantize_model\n"
        "q = quantize_model(Sequential(Linear(4, 4)))\n"
        "print('broken' if getattr(q[0], 'weight', None) is not None else 'intact')",
        "(at most 30 %)",
    ),
    # Pruning that zeroes nothing (the model comes back as it went in).
    "pruning_zeroes_nothing": (
        "MaskedLinear",
        "def prune_model(model, amount=0.5, scope='global'):\n"
        "    return model",
        "from tinytorch.compress.pruning import prune_model\n"
        "m = prune_model(Sequential(Linear(8, 8)), 0.5)\n"
        "print('broken' if np.all(m[0].weight.data != 0) else 'intact')",
        "Pruning left 0.0% of the weights zero",
    ),
    # The cache stores keys and values but attention never reads the earlier ones.
    "cache_never_read": (
        "KVCache",
        "_update = KVCache.update\n"
        "def _write_only(self, layer, k, v):\n"
        "    _update(self, layer, k, v)\n"
        "    return k, v\n"
        "KVCache.update = _write_only",
        "from tinytorch.models.kv_cache import KVCache\n"
        "c = KVCache(1, 1, 1, 2, 4)\n"
        "c.update(0, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))\n"
        "k, v = c.update(0, np.ones((1, 1, 1, 2)), np.ones((1, 1, 1, 2)))\n"
        "print('broken' if k.shape[-2] == 1 else 'intact')",
        "returned other tokens than uncached greedy generation",
    ),
    # Nothing is kept: every step recomputes the whole sequence (right tokens, no saving).
    "cache_keeps_nothing": (
        "KVCache",
        "KVCache.update = lambda self, layer, k, v: (k, v)",
        "from tinytorch.models.kv_cache import KVCache\n"
        "c = KVCache(1, 1, 1, 2, 4)\n"
        "c.update(0, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))\n"
        "print('broken' if c.length == 0 else 'intact')",
        "each new token must cost one position per sequence in every block",
    ),
    # The classic bug: the new tokens get positions 0, 1, ... instead of their own.
    "cache_forgets_position_offset": (
        "KVCache",
        "def _no_offset(self, idx, cache):\n"
        "    ids = np.asarray(getattr(idx, 'data', idx), dtype=np.int64)\n"
        "    x = self.token_embedding(ids) + self.position_embedding.weight[:ids.shape[1]]\n"
        "    for layer, block in enumerate(self.blocks):\n"
        "        x = block.forward_with_cache(x, cache, layer)\n"
        "    return self.head(self.ln_f(x))\n"
        "GPT.forward_with_cache = _no_offset",
        "from tinytorch.models.transformer import GPT\n"
        "np.random.seed(0); m = GPT(5, 8, 2, 1, 40)\n"
        "a = m.generate(np.array([[1, 2, 3]]), 30, greedy=True).data\n"
        "b = m.generate(np.array([[1, 2, 3]]), 30, greedy=True, use_cache=True).data\n"
        "print('broken' if not np.array_equal(a, b) else 'intact')",
        "returned other tokens than uncached greedy generation",
    ),
}

PROBE_IMPORTS = "import numpy as np\nfrom tinytorch.core.tensor import Tensor\nfrom tinytorch.nn.modules import Linear, Sequential\n"


@pytest.mark.parametrize("name", list(BREAKS))
def test_mlperf_fails_when_a_technique_is_broken(exported_project, name):
    cls, patch, check, message = BREAKS[name]
    assert probe(exported_project, PROBE_IMPORTS + check) == ["intact"]
    break_class(exported_project, cls, patch)
    assert probe(exported_project, PROBE_IMPORTS + check) == ["broken"], f"the patch {name!r} did not take effect"

    result, metrics = run_learning_test(exported_project, "mlperf")
    assert_failed(result, "AssertionError", message)
    assert metrics is not None and metrics["milestone"] == "mlperf", "it trained, reported, then was judged"


def test_mlperf_fails_without_any_of_its_modules(project):
    """Every required module in turn is removed from the exported package: the test fails
    on the import of that module's package, before it trains anything."""
    export_only(project, REQUIRED)
    for module_id in REQUIRED:
        module = resolve_module(project, module_id)
        source = module.source.relative_to(project).as_posix()
        removed = [path for path in generated_files(project) if generated_source(path) == source]
        assert removed, f"{module_id} exported nothing"
        for path in removed:
            path.unlink()
        result, metrics = run_learning_test(project, "mlperf")
        assert not result.passed, f"mlperf passed without {module_id}"
        output = result.output
        packages = ["tinytorch." + target for target in parse_module(project, module).targets]
        assert any(package in output for package in packages), f"without {module_id}:\n{output[-3000:]}"
        assert metrics is None, f"it trained without {module_id}"
        export_only(project, [module_id])


def test_mlperf_imports_only_from_its_modules():
    tree = ast.parse((REPO / TRACKER.TEST_FILE).read_text(encoding="utf-8"))
    test = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "test_mlperf_learning")
    imported = {node.module for node in ast.walk(test) if isinstance(node, ast.ImportFrom)
                and node.module.startswith("tinytorch")}
    allowed = set()
    for module_id in REQUIRED:
        parsed = parse_module(REPO, resolve_module(REPO, module_id))
        allowed |= {f"tinytorch.{target}" for target in parsed.targets}
    assert imported and imported <= allowed, f"imports from modules mlperf does not require: {imported - allowed}"
    assert {"tinytorch.perf.profiling", "tinytorch.quant.int8", "tinytorch.compress.pruning", "tinytorch.models.kv_cache",
            "tinytorch.perf.acceleration", "tinytorch.perf.benchmark", "tinytorch.core.setup"} <= imported
