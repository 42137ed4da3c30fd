"""onnxruntime sessions, made one way for every model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnx
import onnxruntime as ort

from models.errors import ModelLoadError, ModelNotFound
from models.fileio import write_atomic
from models.onnx_prepare import prelu_as_relus
from models.packs import models_cache_dir, sha256_file

Optimization = Literal["disable", "basic", "extended", "all"]
log = logging.getLogger(__name__)

LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class SessionTuning:
    """How a CPU session holds its memory and optimises its graph.

    The defaults are what measured best for memory and speed together on the gate machine
    (``scripts/bench_memory.py --options``; README "Memory"): the arena on (off, freed blocks
    fragment the heap and it grows with every run), memory patterns off (a pattern is a second
    block per input shape on top of the arena: +16 MB for YuNet, +27 MB for SFace at 8 faces, no
    speed gained), every graph optimisation (the NCHWc layout makes YuNet 3-4x faster), weights
    prepacked (faster). A shared arena growing by kSameAsRequested (``OrtArenaCfg``; the CPU
    provider ignores the option per session) grew to 215 MB over batches 1..8: not used.
    ``inter_op_threads`` only counts with parallel execution, which these graphs never use.
    """

    cpu_mem_arena: bool = True
    mem_pattern: bool = False
    optimization: Optimization = "all"
    prepacking: bool = True
    inter_op_threads: int = 1


DEFAULT_TUNING = SessionTuning()


def session_options(threads: int, tuning: SessionTuning = DEFAULT_TUNING) -> ort.SessionOptions:
    """The SessionOptions ``make_session`` uses; separate so tests can read what was set."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = tuning.inter_op_threads
    opts.log_severity_level = 3
    # Spinning worker threads steal the second core from capture, faiss and OpenCV on a 2-core
    # gate machine; measured slower with spinning on (README: "Speed").
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_cpu_mem_arena = tuning.cpu_mem_arena
    opts.enable_mem_pattern = tuning.mem_pattern
    opts.graph_optimization_level = LEVELS[tuning.optimization]
    if not tuning.prepacking:
        opts.add_session_config_entry("session.disable_prepacking", "1")
    return opts


def free_image_size(model: onnx.ModelProto) -> None:
    """Leave the input's height and width free (and the outputs' shapes undeclared), in place,
    for a fully convolutional detector whose file fixes them although its Reshapes and Resizes
    do not care: it can then see a 640x384 letterbox of a 16:9 frame instead of 640x640, 40%
    fewer pixels. Same weights, same file on disk."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        for i, d in enumerate(out.type.tensor_type.shape.dim):
            if i:
                d.dim_param = f"{out.name}_{i}"
    del model.graph.value_info[:]


EDITS_VERSION = 1  # of edit_graph's edits: a graph kept from other edits is not used


def edit_graph(path: Path, free_hw: bool = False) -> bytes | None:
    """The graph at ``path`` as onnxruntime should run it, or None if it runs as it is: PRelus
    in their fast form (``prelu_as_relus``), and with ``free_hw`` the input's height and width
    free (``free_image_size``). The same numbers; the model id is still the file's."""
    model = onnx.load(str(path))
    changed = prelu_as_relus(model) > 0
    if free_hw:
        free_image_size(model)
        changed = True
    return model.SerializeToString() if changed else None


def runnable_graph(path: Path, free_hw: bool = False) -> Path | bytes:
    """What onnxruntime loads for the graph at ``path``: the file itself if no edit applies,
    else the edited graph kept once in the model cache (``run/<sha256[:16]>-e<edits>[-hw].onnx``,
    written atomically), so that onnxruntime reads it from a file: a session made from bytes
    keeps about the model's size more (37 MB for SFace). A cache that cannot be written gives
    the bytes, and says so."""
    base = f"{sha256_file(path)[:16]}-e{EDITS_VERSION}{'-hw' if free_hw else ''}"
    folder = models_cache_dir() / "run"
    edited, same = folder / f"{base}.onnx", folder / f"{base}.same"
    if edited.is_file():
        return edited
    if same.is_file():
        return path
    data = edit_graph(path, free_hw)
    try:
        write_atomic(same if data is None else edited, data or b"")
    except OSError as e:
        log.warning("cannot keep the edited graph of %s in %s (%s): it is loaded from memory, "
                    "which costs memory; set GATEWATCH_HOME to a writable folder",
                    path, folder, e.strerror)  # fmt: skip
        return path if data is None else data
    return path if data is None else edited


def make_session(
    path: Path, threads: int, tuning: SessionTuning = DEFAULT_TUNING, free_hw: bool = False
) -> ort.InferenceSession:
    """A CPU inference session with ``threads`` intra-op threads on the graph at ``path`` as
    ``runnable_graph`` gives it; errors name the file. ``free_hw``: the input's height and width
    left free (``free_image_size``)."""
    if not path.is_file():
        raise ModelNotFound(f"{path}: model file not found")
    opts = session_options(threads, tuning)
    try:
        graph = runnable_graph(path, free_hw)
        try:
            return ort.InferenceSession(_as_arg(graph), opts, providers=["CPUExecutionProvider"])
        except Exception:
            if not isinstance(graph, Path) or graph == path:
                raise
            log.warning("the kept edited graph %s does not load: made again from %s", graph, path)
            graph.unlink(missing_ok=True)
            graph = runnable_graph(path, free_hw)
            return ort.InferenceSession(_as_arg(graph), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime and onnx raise their own untyped errors
        raise ModelLoadError(f"{path}: onnxruntime cannot load it: {e}") from e


def _as_arg(graph: Path | bytes) -> str | bytes:
    return str(graph) if isinstance(graph, Path) else graph
