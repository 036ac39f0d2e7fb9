"""nn.Module's API, its containers, nn.init and nn.utils' gradient helpers, compared with PyTorch.

Each test builds the same module tree (or makes the same call) in both libraries through one
builder that receives the library's namespace, and compares what comes back: names and their
order from the iteration methods, hook order and return values, container behaviour and errors,
state_dict / load_state_dict, dtype conversion, zero_grad, the init functions (exactly where
they are deterministic, statistically where random) and gradient clipping.

The divergences this file found were fixed in modules 03, 04 and 08, and their minimal cases
(`test_bug_*`) stay as regression tests: named_parameters(prefix=) without the dot; Parameter of
a float64 Tensor becoming float32 (ParameterList/Dict too); a buffer held twice listed twice;
`del` not forgetting a buffer; get_submodule returning a Parameter; train() with a non-bool;
member names with "." or empty or not a string, and names that would overwrite an attribute;
the repr dropping extra_repr() beside children; ModuleList's repr not grouping repeated modules;
calculate_gain's conv3d/conv_transpose names and a bool slope; kaiming/orthogonal on zero-element
tensors; clip_grad_norm_'s 0-norm and a nan total norm. Three differences stay, as strict xfails
(reason "known difference"): named_parameters lists a module's own Parameters in attribute order,
interleaved with its children (module 03's `_walk` exercise; state_dict follows PyTorch's order);
no __setattr__ type checks (later modules replace weights by assignment); ParameterDict keeps a
plain dict's insertion order.
"""

from collections import OrderedDict
from types import SimpleNamespace

import math

import numpy as np
import pytest

import tinytorch.nn as tnn
from gradcheck import torch
from tinytorch.core.tensor import Tensor


# -- both libraries behind one namespace ------------------------------------------------------

def _tiny():
    return SimpleNamespace(
        name="tiny", nn=tnn, init=tnn.init, utils=tnn.utils,
        P=lambda t, requires_grad=True: tnn.Parameter(t, requires_grad=requires_grad, dtype=t.dtype),
        T=lambda a, dtype=np.float32: Tensor(np.asarray(a, dtype=dtype), dtype=dtype),
        arr=lambda t: np.asarray(t.data),
        f64=np.float64, f32=np.float32, i64=np.int64,
        dt=lambda t: np.dtype(t.dtype).name,
        set_grad=lambda p, g: setattr(p, "grad", Tensor(np.asarray(g, dtype=p.dtype), dtype=p.dtype)),
    )


def _torch():
    th = torch()
    return SimpleNamespace(
        name="torch", nn=th.nn, init=th.nn.init, utils=th.nn.utils, P=th.nn.Parameter,
        T=lambda a, dtype=np.float32: th.from_numpy(np.array(a, dtype=dtype)),
        arr=lambda t: t.detach().numpy(),
        f64=th.float64, f32=th.float32, i64=th.int64,
        dt=lambda t: str(t.dtype).replace("torch.", ""),
        set_grad=lambda p, g: setattr(p, "grad", th.from_numpy(np.array(g)).to(p.dtype)),
    )


def same(build):
    """build(lib) gives the same result for tinytorch and for PyTorch; returns it."""
    theirs = build(_torch())
    mine = build(_tiny())
    assert mine == theirs
    return mine


def both_raise(build):
    """build(lib) raises in PyTorch, and raises (any exception) in tinytorch too."""
    with pytest.raises(Exception):
        build(_torch())
    with pytest.raises(Exception):
        build(_tiny())


def names(pairs):
    return [n for n, _ in pairs]


# -- a tree with nesting, containers, a shared module and a tied parameter ---------------------

def _tree(lib):
    nn = lib.nn
    shared = nn.Linear(2, 2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)
            self.act = nn.ReLU()
            self.register_buffer("count", lib.T([0.0]))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(shared, nn.Tanh(), Block())
            self.blocks = nn.ModuleList([Block(), nn.Sequential(nn.Linear(3, 3), shared)])
            self.heads = nn.ModuleDict(OrderedDict([("z", nn.Linear(3, 1)), ("a", nn.Linear(3, 2, bias=False))]))
            self.params = nn.ParameterList([lib.P(lib.T(np.ones(2))), lib.P(lib.T(np.ones(3)))])
            self.again = shared  # one module under three names
            self.out = nn.Linear(3, 2, bias=False)
            self.out.weight = self.heads["a"].weight  # tied
            self.register_buffer("steps", lib.T([0.0]))
            self.register_buffer("scratch", lib.T([0.0]), persistent=False)
            self.register_buffer("nothing", None)

    return Model()


def test_iteration_methods_names_and_order_on_a_shared_tree():
    def build(lib):
        m = _tree(lib)
        ids = {id(p): n for n, p in m.named_parameters()}
        return dict(
            modules=names(m.named_modules()),
            modules_prefixed=names(m.named_modules(prefix="root")),
            module_types=[type(x).__name__ for x in m.modules()],
            children=names(m.named_children()),
            child_types=[type(x).__name__ for x in m.children()],
            params=names(m.named_parameters()),
            param_ids=[ids[id(p)] for p in m.parameters()],
            buffers=names(m.named_buffers()),
            buffers_prefixed=names(m.named_buffers(prefix="root")),
            n_buffers=len(list(m.buffers())),
            state=list(m.state_dict()),
            block_children=names(m.blocks[0].named_children()),
            stem_modules=names(m.stem.named_modules(prefix="stem")),
        )

    same(build)


def test_plain_module_holds_params_modules_and_none_slots_like_torch():
    def build(lib):
        nn = lib.nn
        m = nn.Module()
        m.register_parameter("w", lib.P(lib.T(np.ones(2))))
        m.register_parameter("gone", None)
        m.add_module("lin", nn.Linear(1, 1, bias=False))
        m.register_module("act", nn.ReLU())
        m.add_module("empty", None)
        m.register_buffer("b", None)
        m.plain = lib.T([1.0])  # a plain Tensor attribute is neither a parameter nor a buffer
        return dict(params=names(m.named_parameters()), modules=names(m.named_modules()),
                    buffers=names(m.named_buffers()), state=list(m.state_dict()),
                    none=(m.gone, m.empty, m.b))

    same(build)


def test_apply_visits_children_first_and_shared_modules_each_time():
    def build(lib):
        m = _tree(lib)
        seen, ids = [], {}
        for n, x in m.named_modules():
            ids.setdefault(id(x), n)
        assert m.apply(lambda x: seen.append(ids[id(x)])) is m
        return seen

    same(build)


def test_train_eval_propagate_to_every_module():
    def build(lib):
        m = _tree(lib)
        flags = [[x.training for x in m.modules()]]
        assert m.eval() is m
        flags.append([x.training for x in m.modules()])
        m.blocks.train()
        flags.append([x.training for x in m.modules()])
        m.train(False)
        m.heads.train(True)
        flags.append([x.training for x in m.modules()])
        return flags

    same(build)


def test_requires_grad_and_get_submodule_parameter_buffer():
    def build(lib):
        m = _tree(lib)
        assert m.requires_grad_(False) is m
        frozen = [p.requires_grad for p in m.parameters()]
        m.blocks.requires_grad_()
        partly = [p.requires_grad for p in m.parameters()]
        return dict(
            frozen=frozen, partly=partly,
            sub=type(m.get_submodule("blocks.1.1")).__name__,
            root=m.get_submodule("") is m,
            same_shared=m.get_submodule("stem.0") is m.get_submodule("again"),
            param=m.get_parameter("heads.z.bias").shape == m.heads["z"].bias.shape,
            plist=m.get_parameter("params.1") is m.params[1],
            buffer=m.get_buffer("stem.2.count") is m.stem[2].count,
        )

    same(build)
    for path in ("nope", "blocks.7", "heads.q", "stem.0.x"):
        both_raise(lambda lib: _tree(lib).get_submodule(path))
    for path in ("heads.a.bias", "steps", "heads.z.nope", "nope.weight"):
        both_raise(lambda lib: _tree(lib).get_parameter(path))
    for path in ("heads.z.bias", "stem.2.nope"):
        both_raise(lambda lib: _tree(lib).get_buffer(path))


def test_register_errors_raise_like_torch():
    both_raise(lambda lib: lib.nn.Module().register_parameter("w", lib.T([1.0])))  # not a Parameter
    both_raise(lambda lib: lib.nn.Module().register_buffer("b", [1.0]))  # not a Tensor
    both_raise(lambda lib: lib.nn.Module().add_module("m", 3))
    both_raise(lambda lib: lib.nn.Module().register_module("m", lib.T([1.0])))


# -- hooks -------------------------------------------------------------------------------------

def test_forward_hooks_order_replacement_and_removal():
    def build(lib):
        nn, log = lib.nn, []

        class Double(nn.Module):
            def forward(self, x, y=None):
                log.append(("forward", float(x.sum()), y))
                return x * 2

        m = Double()
        h1 = m.register_forward_pre_hook(lambda mod, args: log.append(("pre1", len(args))))
        h2 = m.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # a non-tuple replaces the one input
        h3 = m.register_forward_hook(lambda mod, args, out: log.append(("post1", float(args[0].sum()), float(out.sum()))))
        h4 = m.register_forward_hook(lambda mod, args, out: out * 10)
        m.register_forward_hook(lambda mod, args, out: log.append(("post3", float(out.sum()))))

        def run(*args, **kwargs):
            log.append(("out", float(m(*args, **kwargs).sum())))

        run(lib.T(np.ones(2)), y=3)
        h2.remove()
        h2.remove()  # a second remove does nothing
        run(lib.T(np.ones(2)))
        with h4:
            pass  # leaving the with removes the hook
        run(lib.T(np.ones(2)))
        h1.remove()
        h3.remove()
        run(lib.T(np.ones(2)))
        return log

    same(build)


def test_pre_hook_tuple_replaces_all_inputs_and_hooks_fire_on_submodules():
    def build(lib):
        nn, log = lib.nn, []

        class Sub(nn.Module):
            def forward(self, a, b):
                return a - b

        m = Sub()
        m.register_forward_pre_hook(lambda mod, args: (args[1], args[0]))
        seq = nn.Sequential(nn.Identity(), nn.Identity())
        for i, layer in enumerate(seq):
            layer.register_forward_hook(lambda mod, args, out, i=i: log.append(i))
        seq.register_forward_hook(lambda mod, args, out: log.append("seq"))
        seq(lib.T([1.0]))
        return float(m(lib.T([1.0]), lib.T([5.0])).sum()), log

    same(build)


# -- containers ----------------------------------------------------------------------------------

def _widths(modules):
    return [m.out_features for m in modules]


def test_module_list_indexing_slicing_insert_delete():
    def build(lib):
        nn = lib.nn
        a, b, c, d = (nn.Linear(1, i + 1) for i in range(4))
        ml = nn.ModuleList([a, b, c])
        r = [len(ml), _widths(ml), ml[-1].out_features, ml[0] is a, type(ml[1:]).__name__, _widths(ml[::-1]),
             _widths(ml[-2:]), a in ml, d in ml]
        assert ml.append(d) is ml
        ml.insert(1, nn.Linear(1, 7))
        ml.insert(0, nn.Linear(1, 8))
        ml.insert(len(ml), nn.Linear(1, 9))
        r += [_widths(ml), names(ml.named_children())]
        ml[-1] = nn.Linear(1, 5)
        ml[0] = nn.Linear(1, 6)
        del ml[1]
        r += [_widths(ml), names(ml.named_children())]
        del ml[-1]
        del ml[1:3]
        r += [_widths(ml), names(ml.named_children()), names(ml.named_parameters())]
        assert ml.extend([nn.Linear(1, 4)]) is ml
        r += [_widths(ml), len(ml)]
        return r

    same(build)


@pytest.mark.parametrize("bad", [
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])[1],
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])[-2],
    lambda lib: lib.nn.ModuleList()[0],
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()]).__setitem__(3, lib.nn.ReLU()),
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()]).__setitem__(0, 3),
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()]).__delitem__(2),
    lambda lib: lib.nn.ModuleList().append(3),
    lambda lib: lib.nn.ModuleList([3]),
    lambda lib: lib.nn.ModuleList().extend(3),
    lambda lib: lib.nn.Sequential(lib.nn.ReLU())[1],
    lambda lib: lib.nn.Sequential(lib.nn.ReLU())[-2],
    lambda lib: lib.nn.Sequential(3),
    lambda lib: lib.nn.Sequential().append(3),
    lambda lib: lib.nn.ModuleDict()["x"],
    lambda lib: lib.nn.ModuleDict({"a": 3}),
    lambda lib: lib.nn.ModuleDict().update(3),
    lambda lib: lib.nn.ModuleDict().update([1, 2]),
    lambda lib: lib.nn.ModuleDict().update([("a", lib.nn.ReLU(), 3)]),
    lambda lib: lib.nn.ModuleDict().pop("x"),
    lambda lib: lib.nn.ModuleDict().__delitem__("x"),
    lambda lib: lib.nn.ParameterDict()["x"],
    lambda lib: lib.nn.ParameterList([lib.P(lib.T([1.0]))])[3],
])
def test_container_errors_raise_like_torch(bad):
    both_raise(bad)


def test_sequential_names_slicing_delete_and_forward():
    def build(lib):
        nn = lib.nn
        s = nn.Sequential(OrderedDict([("a", nn.Linear(2, 2)), ("b", nn.ReLU()), ("c", nn.Linear(2, 1))]))
        r = [list(s._modules), names(s.named_children()), names(s[1:].named_children()),
             names(s[::-1].named_children()), type(s[-1]).__name__, type(s[1:]).__name__, len(s),
             type(s.b).__name__, names(s.named_parameters())]
        with_w = s[0]
        for p in s.parameters():
            p.data = lib.T(np.full(tuple(p.shape), 0.5)).data if lib.name == "torch" else np.full(p.shape, 0.5, np.float32)
        r.append(float(lib.arr(s(lib.T([[1.0, -2.0]]))).sum()))
        del s[0]
        r += [names(s.named_children()), with_w not in s]
        assert s.append(nn.Tanh()) is s
        del s[0:1]
        r += [names(s.named_children()), [type(x).__name__ for x in s]]
        return r

    same(build)


def test_module_dict_keys_update_pop_and_order():
    def build(lib):
        nn = lib.nn
        d = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})  # a plain dict keeps its order in a ModuleDict
        r = [list(d.keys()), list(d), len(d), "a" in d, "z" in d, [type(v).__name__ for v in d.values()]]
        d.update([("c", nn.Sigmoid()), ("a", nn.ReLU())])
        r.append([(k, type(v).__name__) for k, v in d.items()])
        d.update(OrderedDict([("y", nn.ReLU()), ("x", nn.ReLU())]))
        d.update(nn.ModuleDict({"w": nn.Identity()}))
        r.append(list(d.keys()))
        r.append(type(d.pop("b")).__name__)
        del d["c"]
        d["a"] = nn.Linear(1, 1)  # replacing keeps the position
        r += [list(d.keys()), names(d.named_modules()), names(d.named_parameters(), ), type(d.a).__name__]
        d.clear()
        r.append(len(d))
        return r

    same(build)


def test_parameter_list_and_dict():
    def build(lib):
        nn = lib.nn
        pl = nn.ParameterList([lib.T(np.ones(2)), lib.P(lib.T(np.zeros(3)), requires_grad=False)])
        r = [len(pl), names(pl.named_parameters()), [type(p).__name__ for p in pl], [p.requires_grad for p in pl]]
        pl.append(lib.T(np.ones(1)))
        pl.extend([lib.T(np.ones(4))])
        r += [len(pl), type(pl[1:]).__name__, [p.shape[0] for p in pl[::-1]], pl[-1].shape[0]]
        pd = nn.ParameterDict(OrderedDict([("b", lib.T(np.ones(2))), ("a", lib.P(lib.T(np.ones(1))))]))
        pd["c"] = lib.T(np.ones(3))
        r += [list(pd.keys()), "a" in pd, len(pd), type(pd["c"]).__name__, pd["c"].requires_grad]
        r.append(pd.pop("b").shape[0])
        pd.update(OrderedDict([("e", lib.T(np.ones(1)))]))
        r += [list(pd), names(pd.named_parameters())]

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.pl, self.pd = pl, pd

        m = M()
        r += [names(m.named_parameters()), list(m.state_dict()), names(m.named_modules())]
        return r

    same(build)


# -- state_dict and load_state_dict -----------------------------------------------------------------

def _stateful(lib):
    nn = lib.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 3)
            self.register_buffer("rm", lib.T(np.zeros(3)))
            self.register_buffer("tmp", lib.T(np.zeros(1)), persistent=False)
            self.register_buffer("none", None)
            self.b = nn.Sequential(nn.Linear(3, 1, bias=False), nn.BatchNorm1d(1))

    return M()


def _sd_input(lib, arrays):
    if lib.name == "torch":
        th = torch()
        return {k: th.from_numpy(np.array(v)) for k, v in arrays.items()}
    return dict(arrays)


def test_state_dict_keys_and_load_results():
    def build(lib):
        m = _stateful(lib)
        sd = m.state_dict()
        shapes = {k: tuple(np.shape(lib.arr(v) if lib.name == "torch" else v)) for k, v in sd.items()}
        good = {k: np.full(s, 0.5, dtype=np.float32) for k, s in shapes.items()}
        good["b.1.num_batches_tracked"] = np.array(7, dtype=np.int64)
        r = [list(sd), shapes, names(m.named_buffers())]
        res = m.load_state_dict(_sd_input(lib, good))
        r.append(tuple(list(x) for x in res))
        r.append([lib.arr(p).tolist() for p in m.parameters()])
        r.append((lib.arr(m.rm).tolist(), int(lib.arr(m.b[1].num_batches_tracked)), lib.arr(m.tmp).tolist()))
        bad = {k: v + 1 for k, v in good.items() if k != "a.bias"}
        bad["extra"] = np.ones(1, dtype=np.float32)
        bad["tmp"] = np.ones(1, dtype=np.float32)  # a non-persistent buffer's name is unexpected
        missing, unexpected = m.load_state_dict(_sd_input(lib, bad), strict=False)
        r += [sorted(missing), sorted(unexpected), lib.arr(m.a.bias).tolist(), lib.arr(m.a.weight).tolist(),
              lib.arr(m.tmp).tolist()]
        return r

    same(build)


@pytest.mark.parametrize("change", ["missing", "unexpected", "size", "size_nonstrict"])
def test_load_state_dict_errors(change):
    def build(lib):
        m = _stateful(lib)
        sd = {k: (lib.arr(v) if lib.name == "torch" else v).copy() for k, v in m.state_dict().items()}
        strict = True
        if change == "missing":
            del sd["rm"]
        elif change == "unexpected":
            sd["b.2.weight"] = np.ones(1, dtype=np.float32)
        else:
            sd["a.weight"] = np.ones((3, 3), dtype=np.float32)
            strict = change == "size"
        m.load_state_dict(_sd_input(lib, sd), strict=strict)

    both_raise(build)


def test_state_dict_loads_across_libraries_both_ways():
    th = torch()
    tiny, torc = _tiny(), _torch()
    np.random.seed(3)
    th.manual_seed(3)
    mine, theirs = _tree(tiny), _tree(torc)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for (n, p), (n2, q) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert n == n2
        np.testing.assert_array_equal(p.data, q.detach().numpy())
    theirs2 = _tree(torc)
    assert tuple(map(list, theirs2.load_state_dict({k: th.from_numpy(np.array(v)) for k, v in mine.state_dict().items()}))) == ([], [])
    for p, q in zip(theirs.parameters(), theirs2.parameters()):
        assert th.equal(p, q)


# -- dtype conversion and zero_grad ------------------------------------------------------------------

def test_to_double_half_float_convert_params_grads_and_float_buffers():
    def build(lib):
        m = lib.nn.Linear(2, 2)
        m.register_buffer("count", lib.T([0], dtype=np.int64))
        m.register_buffer("f", lib.T([0.0]))
        m.register_buffer("nb", None)
        m(lib.T(np.ones((1, 2)))).sum().backward()
        w, r = m.weight, []
        for convert in (lambda: m.double(), lambda: m.half(), lambda: m.float(), lambda: m.to(lib.f64),
                        lambda: m.to("cpu"), lambda: m.to(dtype=lib.f32)):
            assert convert() is m
            r.append((lib.dt(m.weight), lib.dt(m.weight.grad), lib.dt(m.bias), lib.dt(m.bias.grad),
                      lib.dt(m.count), lib.dt(m.f), m.nb is None, m.weight is w))
        r.append(np.round(lib.arr(m.weight.grad).astype(np.float64), 4).tolist())
        return r

    same(build)


def test_zero_grad_semantics():
    def build(lib):
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        m[1].bias.requires_grad_(False)
        m(lib.T(np.ones((1, 2)))).sum().backward()
        g = m[0].weight.grad
        m.zero_grad(set_to_none=False)
        r = [m[0].weight.grad is g, float(np.abs(lib.arr(m[0].weight.grad)).sum()), m[1].bias.grad is None]
        m.zero_grad()
        r.append([p.grad is None for p in m.parameters()])
        m.zero_grad(set_to_none=False)  # None gradients stay None
        r.append([p.grad is None for p in m.parameters()])
        return r

    same(build)


# -- nn.init: deterministic ---------------------------------------------------------------------------

GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 2), ("leaky_relu", -0.5),
         ("selu", None), ("relu", 5.0)]


@pytest.mark.parametrize("nonlinearity, param", GAINS)
def test_calculate_gain(nonlinearity, param):
    theirs = torch().nn.init.calculate_gain(nonlinearity, param)
    assert tnn.init.calculate_gain(nonlinearity, param) == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("nonlinearity, param", [("gelu", None), ("softmax", None), ("leaky_relu", "x")])
def test_calculate_gain_errors(nonlinearity, param):
    both_raise(lambda lib: lib.init.calculate_gain(nonlinearity, param))


@pytest.mark.parametrize("shape", [(3, 4), (5, 1), (4, 3, 2), (2, 3, 4, 5), (6, 2, 3, 1, 2), (0, 3), (3, 0, 2)])
def test_fan_in_and_fan_out(shape):
    same(lambda lib: tuple(lib.init._calculate_fan_in_and_fan_out(lib.T(np.zeros(shape)))))


@pytest.mark.parametrize("shape", [(), (4,)])
def test_fan_needs_two_dimensions(shape):
    both_raise(lambda lib: lib.init._calculate_fan_in_and_fan_out(lib.T(np.zeros(shape))))


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (4,), (2, 3, 4)])
def test_constant_ones_zeros_eye(shape):
    def build(lib):
        r = []
        for fill in (lambda t: lib.init.constant_(t, 2.5), lib.init.ones_, lib.init.zeros_,
                     lambda t: lib.init.constant_(t, -1)):
            t = lib.T(np.full(shape, 7.0))
            assert fill(t) is t
            r.append((lib.arr(t).tolist(), lib.dt(t)))
        t = lib.T(np.full(shape, 7.0), dtype=np.float64)
        lib.init.ones_(t)
        r.append(lib.dt(t))
        if len(shape) == 2:
            t = lib.T(np.full(shape, 7.0))
            assert lib.init.eye_(t) is t
            r.append(lib.arr(t).tolist())
        return r

    same(build)


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2)])
def test_eye_needs_two_dimensions(shape):
    both_raise(lambda lib: lib.init.eye_(lib.T(np.zeros(shape))))


@pytest.mark.parametrize("call", [
    lambda lib, t: lib.init.kaiming_uniform_(t, mode="fan_avg"),
    lambda lib, t: lib.init.kaiming_normal_(t, nonlinearity="gelu"),
    lambda lib, t: lib.init.xavier_uniform_(lib.T(np.zeros(4))),
    lambda lib, t: lib.init.kaiming_normal_(lib.T(np.zeros(4))),
    lambda lib, t: lib.init.orthogonal_(lib.T(np.zeros(4))),
])
def test_init_errors(call):
    both_raise(lambda lib: call(lib, lib.T(np.zeros((3, 4)))))


# -- nn.init: random, compared statistically ---------------------------------------------------------

SHAPE = (256, 128, 3)  # fan_in 384, fan_out 768; 98304 values


def _std_of(lib, fill, shape=SHAPE):
    t = lib.T(np.zeros(shape))
    assert fill(lib, t) is t
    values = lib.arr(t).astype(np.float64)
    return values, lib.dt(t)


RANDOM_INITS = {
    "uniform": lambda lib, t: lib.init.uniform_(t, -0.3, 0.7),
    "normal": lambda lib, t: lib.init.normal_(t, 0.5, 2.0),
    "xavier_uniform": lambda lib, t: lib.init.xavier_uniform_(t),
    "xavier_uniform_gain": lambda lib, t: lib.init.xavier_uniform_(t, gain=lib.init.calculate_gain("tanh")),
    "xavier_normal": lambda lib, t: lib.init.xavier_normal_(t, gain=2.0),
    "kaiming_uniform": lambda lib, t: lib.init.kaiming_uniform_(t),
    "kaiming_uniform_a": lambda lib, t: lib.init.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_uniform_out_relu": lambda lib, t: lib.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
    "kaiming_normal": lambda lib, t: lib.init.kaiming_normal_(t),
    "kaiming_normal_out": lambda lib, t: lib.init.kaiming_normal_(t, a=0.1, mode="fan_out"),
    "kaiming_normal_tanh": lambda lib, t: lib.init.kaiming_normal_(t, nonlinearity="tanh"),
    "trunc_normal": lambda lib, t: lib.init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0),
    "trunc_normal_shifted": lambda lib, t: lib.init.trunc_normal_(t, mean=1.0, std=0.5, a=0.5, b=3.0),
    "trunc_normal_small": lambda lib, t: lib.init.trunc_normal_(t, std=0.02),
}


TRUNCATED = {"trunc_normal": (-2.0, 2.0), "trunc_normal_shifted": (0.5, 3.0)}


@pytest.mark.parametrize("kind", list(RANDOM_INITS))
def test_random_init_statistics_match_torch(kind):
    np.random.seed(0)
    torch().manual_seed(0)
    fill = RANDOM_INITS[kind]
    mine, my_dtype = _std_of(_tiny(), fill)
    theirs, their_dtype = _std_of(_torch(), fill)
    assert my_dtype == their_dtype == "float32"
    spread = theirs.std()
    # range: tinytorch's values stay inside PyTorch's observed range (slightly widened for sampling)
    lo, hi = theirs.min(), theirs.max()
    bounded = kind.startswith(("uniform", "xavier_uniform", "kaiming_uniform")) or kind in TRUNCATED
    slack = 0.02 * (hi - lo) if bounded else 0.5 * (hi - lo)
    assert lo - slack <= mine.min() and mine.max() <= hi + slack
    assert mine.std() == pytest.approx(spread, rel=0.03)
    assert mine.mean() == pytest.approx(theirs.mean(), abs=0.03 * spread)


@pytest.mark.parametrize("kind, bound", [
    ("xavier_uniform", math.sqrt(6.0 / (384 + 768))),
    ("kaiming_uniform", math.sqrt(2.0) * math.sqrt(3.0 / 384)),
    ("kaiming_uniform_a", 1.0 / math.sqrt(384)),
    ("kaiming_uniform_out_relu", math.sqrt(2.0) * math.sqrt(3.0 / 768)),
])
def test_uniform_inits_stay_within_the_theoretical_bound(kind, bound):
    np.random.seed(1)
    values, _ = _std_of(_tiny(), RANDOM_INITS[kind])
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3.0), rel=0.02)


@pytest.mark.parametrize("kind", list(TRUNCATED))
def test_trunc_normal_stays_inside_its_bounds(kind):
    np.random.seed(4)
    values, _ = _std_of(_tiny(), RANDOM_INITS[kind])
    a, b = TRUNCATED[kind]
    assert a <= values.min() and values.max() <= b
    assert values.min() < a + 0.01  # the lower bound is within 1 std of the mean in both cases: reached


@pytest.mark.parametrize("shape", [(40, 40), (30, 70), (70, 30), (8, 3, 5), (6, 2, 2, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape, gain):
    np.random.seed(2)
    for lib in (_tiny(), _torch()):
        t = lib.T(np.zeros(shape))
        assert lib.init.orthogonal_(t, gain=gain) is t
        flat = lib.arr(t).reshape(shape[0], -1).astype(np.float64) / gain
        rows, cols = flat.shape
        gram = flat @ flat.T if rows <= cols else flat.T @ flat
        np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5, err_msg=lib.name)


# -- nn.utils: clipping and vectors -----------------------------------------------------------------

GRADS = [np.array([3.0, -4.0]), np.array([[1.0, 2.0], [-2.0, 0.5]]), None, np.array([0.25])]


def _with_grads(lib, grads, dtype=np.float32):
    params = []
    for g in grads:
        p = lib.P(lib.T(np.zeros(np.shape(g) if g is not None else (2,)), dtype=dtype))
        if g is not None:
            lib.set_grad(p, g)
        params.append(p)
    return params


def _grads_of(lib, params):
    return [None if p.grad is None else lib.arr(p.grad).astype(np.float64) for p in params]


def _assert_grads_equal(a, b, **tol):
    assert [g is None for g in a] == [g is None for g in b]
    for x, y in zip(a, b):
        if x is not None:
            np.testing.assert_allclose(x, y, **tol)


@pytest.mark.parametrize("norm_type", [2, 2.0, 1, 3.0, 0.5, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [1.0, 4.5, 100.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    results = []
    for lib in (_tiny(), _torch()):
        params = _with_grads(lib, GRADS, dtype)
        total = lib.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        results.append((float(lib.arr(total) if lib.name == "torch" else total.data), lib.dt(total),
                        _grads_of(lib, params)))
    (mine, my_dt, my_grads), (theirs, their_dt, their_grads) = results
    assert my_dt == their_dt
    assert mine == pytest.approx(theirs, rel=1e-5)
    _assert_grads_equal(my_grads, their_grads, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_edge_cases():
    def build(lib):
        r = []
        single = _with_grads(lib, [np.array([3.0, 4.0])])[0]  # a lone Tensor, not a list
        r.append((round(float(lib.utils.clip_grad_norm_(single, 1.0)), 5), np.round(_grads_of(lib, [single])[0], 5).tolist()))
        nograd = [lib.P(lib.T(np.ones(2)))]
        total = lib.utils.clip_grad_norm_(nograd, 1.0)
        r.append((float(total), lib.dt(total), nograd[0].grad is None))
        gen = _with_grads(lib, [np.array([6.0, 8.0])])
        r.append(round(float(lib.utils.clip_grad_norm_(iter(gen), 5.0)), 5))
        r.append(np.round(_grads_of(lib, gen)[0], 5).tolist())
        inf = _with_grads(lib, [np.array([np.inf, 1.0]), np.array([2.0])])
        total = lib.utils.clip_grad_norm_(inf, 1.0)  # an infinite norm scales the gradients by 0
        r.append((float(total), [np.nan_to_num(g, nan=-99).tolist() for g in _grads_of(lib, inf)]))
        return r

    with np.errstate(invalid="ignore"):
        same(build)


@pytest.mark.parametrize("bad, norm_type", [(np.nan, 2.0), (np.inf, 2.0), (np.inf, float("inf")), (-np.inf, 1.0)])
def test_clip_grad_norm_error_if_nonfinite(bad, norm_type):
    def build(lib):
        params = _with_grads(lib, [np.array([bad, 1.0]), np.array([2.0])])
        lib.utils.clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)

    both_raise(build)
    tiny = _tiny()
    params = _with_grads(tiny, [np.array([1.0, bad])])
    try:
        tiny.utils.clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    except RuntimeError:
        pass
    assert _grads_of(tiny, params)[0][0] == 1.0  # no gradient was changed before the error


@pytest.mark.parametrize("clip", [0.5, 2.0, 10.0])
def test_clip_grad_value(clip):
    def build(lib):
        params = _with_grads(lib, GRADS)
        single = _with_grads(lib, [np.array([-3.0, 0.1])])[0]
        return (lib.utils.clip_grad_value_(params, clip), lib.utils.clip_grad_value_(single, clip),
                [None if g is None else g.tolist() for g in _grads_of(lib, params + [single])])

    same(build)


def test_parameters_to_vector_and_back():
    def build(lib):
        params = [lib.P(lib.T(np.arange(6.0).reshape(2, 3))), lib.P(lib.T([7.0, 8.0])), lib.P(lib.T([[9.0]]))]
        vec = lib.utils.parameters_to_vector(params)
        r = [lib.arr(vec).tolist(), tuple(vec.shape), vec.requires_grad, lib.dt(vec)]
        (vec * lib.T(np.arange(9.0))).sum().backward()
        r.append([lib.arr(p.grad).tolist() for p in params])
        lib.utils.vector_to_parameters(lib.T(np.arange(9.0) * 2 - 1), params)
        r.append([(lib.arr(p).tolist(), tuple(p.shape), lib.dt(p)) for p in params])
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        n = sum(p.numel() for p in m.parameters())
        lib.utils.vector_to_parameters(lib.T(np.linspace(-1, 1, n)), m.parameters())
        r.append(np.round(lib.arr(lib.utils.parameters_to_vector(m.parameters())).astype(np.float64), 6).tolist())
        return r

    same(build)
    both_raise(lambda lib: lib.utils.vector_to_parameters(lib.T(np.ones(1)), [lib.P(lib.T(np.ones(2)))]))


# ==================================================================================================
# Divergences from PyTorch this file found: fixed (plain tests), or known differences (strict xfails).
# ==================================================================================================

@pytest.mark.xfail(strict=True, reason="known difference: named_parameters lists a module's own Parameters in attribute "
                                       "order, interleaved with its children's; PyTorch lists them first")
def test_bug_named_parameters_own_params_come_first():
    def build(lib):
        m = lib.nn.Module()
        m.lin = lib.nn.Linear(2, 2)
        m.w = lib.P(lib.T(np.ones(2)))
        return names(m.named_parameters())

    same(build)  # torch: ['w', 'lin.weight', 'lin.bias']


def test_bug_named_parameters_prefix_has_no_dot():
    same(lambda lib: names(lib.nn.Linear(1, 1).named_parameters(prefix="p")))  # torch: ['p.weight', 'p.bias']


def test_bug_parameter_of_a_float64_tensor_keeps_its_dtype():
    parameter = {"tiny": tnn.Parameter, "torch": torch().nn.Parameter}
    same(lambda lib: lib.dt(parameter[lib.name](lib.T([1.0], dtype=np.float64))))  # torch: float64


def test_bug_shared_buffer_listed_once():
    def build(lib):
        b, m = lib.T([1.0]), lib.nn.Module()
        m.a, m.b = lib.nn.Module(), lib.nn.Module()
        m.a.register_buffer("x", b)
        m.b.register_buffer("y", b)
        return names(m.named_buffers())

    same(build)  # torch: ['a.x']


def test_bug_deleted_buffer_is_no_longer_a_buffer():
    def build(lib):
        m = lib.nn.Module()
        m.register_buffer("buf", lib.T([1.0]))
        del m.buf
        m.buf = lib.T([2.0])
        return names(m.named_buffers()), list(m.state_dict())

    same(build)  # torch: ([], [])


def test_bug_get_submodule_of_a_parameter_raises():
    both_raise(lambda lib: lib.nn.Sequential(lib.nn.Linear(2, 2)).get_submodule("0.weight"))


def test_bug_train_mode_must_be_bool():
    both_raise(lambda lib: lib.nn.Linear(1, 1).train("no"))


BAD_NAMES = {
    "buffer_dot": lambda lib: lib.nn.Module().register_buffer("a.b", lib.T([1.0])),
    "buffer_empty": lambda lib: lib.nn.Module().register_buffer("", lib.T([1.0])),
    "parameter_dot": lambda lib: lib.nn.Module().register_parameter("a.b", lib.P(lib.T([1.0]))),
    "module_dot": lambda lib: lib.nn.Module().add_module("a.b", lib.nn.ReLU()),
    "module_dict_dot": lambda lib: lib.nn.ModuleDict({"a.b": lib.nn.ReLU()}),
    "module_dict_int_key": lambda lib: lib.nn.ModuleDict().__setitem__(1, lib.nn.ReLU()),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_bug_invalid_member_names_raise(case):
    both_raise(BAD_NAMES[case])


def _existing_attribute(lib, kind):
    m = lib.nn.Module()
    m.x = 3
    if kind == "buffer":
        m.register_buffer("x", lib.T([1.0]))
    else:
        m.register_parameter("x", lib.P(lib.T([1.0])))


@pytest.mark.parametrize("kind", ["buffer", "parameter"])
def test_bug_register_over_existing_attribute_raises(kind):
    both_raise(lambda lib: _existing_attribute(lib, kind))


def _assign(lib, what):
    if what == "tensor_into_parameter":
        lib.nn.Linear(2, 2).weight = lib.T(np.ones((2, 2)))
    else:
        m = lib.nn.Module()
        m.child = lib.nn.Linear(1, 1)
        m.child = 3


@pytest.mark.xfail(strict=True, reason="known difference: Module has no __setattr__ checks: a plain Tensor or an int replaces "
                                       "a Parameter / sub-Module silently; PyTorch raises TypeError")
@pytest.mark.parametrize("what", ["tensor_into_parameter", "int_into_module"])
def test_bug_setattr_type_checks(what):
    both_raise(lambda lib: _assign(lib, what))


def test_bug_repr_shows_extra_repr_with_children():
    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(2, 2)

            def extra_repr(self):
                return "hello"

        return repr(M())

    same(build)


def test_bug_module_list_repr_groups_repeats():
    same(lambda lib: repr(lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)])))


@pytest.mark.xfail(strict=True, reason="known difference: ParameterDict(plain dict) keeps insertion order; PyTorch sorts the keys")
def test_bug_parameter_dict_from_plain_dict_is_sorted():
    same(lambda lib: list(lib.nn.ParameterDict({"b": lib.T([1.0]), "a": lib.T([2.0])}).keys()))  # torch: ['a', 'b']


def test_bug_calculate_gain_conv3d_and_transposed():
    for name in ("conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        assert tnn.init.calculate_gain(name) == torch().nn.init.calculate_gain(name) == 1


def test_bug_calculate_gain_bool_slope_raises():
    both_raise(lambda lib: lib.init.calculate_gain("leaky_relu", True))


def test_bug_kaiming_on_zero_element_tensor_is_a_noop():
    with pytest.warns(UserWarning):
        torch().nn.init.kaiming_uniform_(torch().zeros(3, 0))
    with pytest.warns(UserWarning, match="zero-element"):
        for init in (tnn.init.kaiming_uniform_, tnn.init.kaiming_normal_):
            assert init(Tensor(np.zeros((3, 0), np.float32))).shape == (3, 0)


def test_bug_orthogonal_on_zero_rows_is_a_noop():
    torch().nn.init.orthogonal_(torch().zeros(0, 3))
    assert tnn.init.orthogonal_(Tensor(np.zeros((0, 3), np.float32))).shape == (0, 3)


def test_bug_clip_grad_norm_order_zero():
    def build(lib):
        params = _with_grads(lib, [np.array([3.0, 0.0, -4.0])])
        total = lib.utils.clip_grad_norm_(params, 1.0, norm_type=0)
        return float(total), np.round(_grads_of(lib, params)[0], 5).tolist()  # float32: the last digit may differ

    same(build)  # torch: (1.0, [3.0, 0.0, -4.0]): the 0-norm of the per-parameter norms counts the parameters


def test_bug_clip_grad_norm_nan_total_scales_gradients():
    def build(lib):
        params = _with_grads(lib, [np.array([np.nan, 1.0]), np.array([2.0])])
        lib.utils.clip_grad_norm_(params, 1.0)
        return [np.isnan(g).tolist() for g in _grads_of(lib, params)]

    same(build)  # torch: [[True, True], [True]]
