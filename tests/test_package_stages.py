"""`import tinytorch` works at every stage of the course (DESIGN §3): names appear as
their modules are exported, and a name asked for too early says which module to complete."""

import json
import subprocess
import sys

from tito.exporter import export_module
from tito.project import discover_modules

from conftest import project_env

PROBE = """
import json, warnings
warnings.simplefilter("error")
import tinytorch
missing = {}
for name in %r:
    try:
        getattr(tinytorch, name)
    except ImportError as err:  # a course name not exported yet: tinytorch._exports.NotExportedYet
        missing[name] = str(err)
print(json.dumps({"all": sorted(tinytorch.__all__), "file": tinytorch.__file__, "missing": missing}))
"""

# The names a student types first, and the module that brings each (DESIGN §3).
FIRST_NAMES = {
    "Tensor": "01_tensor", "no_grad": "02_autograd", "Linear": "03_nn", "ReLU": "03_nn", "Sigmoid": "03_nn",
    "SGD": "03_nn", "BinaryCrossEntropyLoss": "03_nn", "CrossEntropyLoss": "03_nn", "Adam": "04_training",
    "DataLoader": "04_training", "Conv2d": "05_spatial", "Embedding": "06_embeddings",
    "MultiHeadAttention": "07_attention", "GPT": "08_transformer", "profile": "09_profiling",
    "quantize_model": "10_quantization", "prune_model": "11_compression", "KVCache": "12_kv_cache",
    "fuse_for_inference": "13_acceleration", "benchmark": "14_benchmarking",
}


def probe(project):
    result = subprocess.run([sys.executable, "-c", PROBE % (sorted(FIRST_NAMES),)], cwd=project,
                            env=project_env(project), capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_import_works_at_every_stage(project):
    modules = discover_modules(project)
    exported = set()
    for stage in range(len(modules) + 1):
        if stage:
            export_module(project, modules[stage - 1], warn=lambda message: None)
            exported.add(modules[stage - 1].id)
        seen = probe(project)
        assert seen["file"].startswith(str(project)), seen["file"]
        for name, module_id in FIRST_NAMES.items():
            if module_id in exported:
                assert name in seen["all"] and name not in seen["missing"], f"{name} after {module_id}"
            else:
                message = seen["missing"].get(name, "")
                assert module_id in message and "tito module complete" in message, (name, message)
        assert "exp" in seen["all"] and "sum" in seen["all"], "the function forms are there at every stage"


FUNCTION_FORM_PROBE = """
import tinytorch
try:
    print(tinytorch.exp(tinytorch.tensor([0.0])).tolist())
except Exception as err:
    print(type(err).__name__, err)
"""


def test_a_function_form_before_its_module_says_which_to_complete(project):
    def run():
        result = subprocess.run([sys.executable, "-c", FUNCTION_FORM_PROBE], cwd=project, env=project_env(project),
                                capture_output=True, text=True, encoding="utf-8")
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "01_tensor" in run() and "tito module complete" in run()  # not even Tensor yet
    modules = {info.id: info for info in discover_modules(project)}
    export_module(project, modules["00_setup"], warn=lambda message: None)
    export_module(project, modules["01_tensor"], warn=lambda message: None)
    assert run().strip() == "[1.0]", "module 01's exp, without a graph"


def test_from_import_before_the_module_is_exported_says_which_module(project):
    export_module(project, discover_modules(project)[0], warn=lambda message: None)
    for statement, module in (("from tinytorch import Tensor", "01"), ("from tinytorch.nn import Linear", "03"),
                              ("from tinytorch.nn import init", "04"), ("from tinytorch.autograd import grad", "02"),
                              ("from tinytorch.utils.data import DataLoader", "04"),
                              ("from tinytorch.linalg import solve", "02")):
        result = subprocess.run([sys.executable, "-c", statement], cwd=project, env=project_env(project),
                                capture_output=True, text=True)
        assert result.returncode == 1
        assert "is not exported yet" in result.stderr and f"tito module complete {module}" in result.stderr, \
            (statement, result.stderr)
    result = subprocess.run([sys.executable, "-c", "import tinytorch; print(hasattr(tinytorch, 'nothing_of_ours'))"],
                            cwd=project, env=project_env(project), capture_output=True, text=True)
    assert result.stdout.strip() == "False", "a name the course never defines is a plain AttributeError"


def test_pytorch_style_top_level_imports_after_03(exported_project):
    code = "from tinytorch import Tensor, Linear, ReLU, Sigmoid, SGD, BinaryCrossEntropyLoss, CrossEntropyLoss"
    result = subprocess.run([sys.executable, "-c", code], cwd=exported_project, env=project_env(exported_project),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
