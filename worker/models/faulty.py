"""Primary models that misbehave for real — NaN for every row or for marked rows, a run-time
error, a wrong output shape, a graph far too slow — for the chaos suite and the tests, which
put them where the worker loads its primary (a model file that raises, returns NaN or is
slow is a fault injected by real means)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from worker.models.primary import INPUT_NAME, OUTPUT_NAME


def graph_model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], n: int) -> bytes:
    """An ONNX model of ``nodes`` with the primary's input (n features) and output names."""
    graph = helper.make_graph(
        nodes,
        "faulty_primary",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def nan_model(n: int) -> bytes:
    """Answers NaN for every row: x·0 / 0."""
    zeros = numpy_helper.from_array(np.zeros((n, 1), np.float32), "zeros")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    nodes = [
        helper.make_node("MatMul", [INPUT_NAME, "zeros"], ["z"]),
        helper.make_node("Div", ["z", "zero"], [OUTPUT_NAME]),
    ]
    return graph_model(nodes, [zeros, zero], n)


def nan_where_model(n: int, column: int, marker: float) -> bytes:
    """Answers 0.5 for every row, except NaN where input ``column`` equals ``marker``: a model
    that misbehaves only for some rows' own values, not for the batch."""
    inits = [
        numpy_helper.from_array(np.array([column], np.int64), "column"),
        numpy_helper.from_array(np.array([marker], np.float32), "marker"),
        numpy_helper.from_array(np.array([np.nan], np.float32), "nan"),
        numpy_helper.from_array(np.zeros((n, 1), np.float32), "zeros"),
    ]
    nodes = [
        helper.make_node("Gather", [INPUT_NAME, "column"], ["picked"], axis=1),
        helper.make_node("Equal", ["picked", "marker"], ["marked"]),
        helper.make_node("MatMul", [INPUT_NAME, "zeros"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["half"]),
        helper.make_node("Where", ["marked", "nan", "half"], [OUTPUT_NAME]),
    ]
    return graph_model(nodes, inits, n)


def raising_model(n: int) -> bytes:
    """Fails at run time, whatever the batch: it gathers a column that does not exist."""
    index = numpy_helper.from_array(np.array([n + 1000], np.int64), "missing_column")
    nodes = [helper.make_node("Gather", [INPUT_NAME, "missing_column"], [OUTPUT_NAME], axis=1)]
    return graph_model(nodes, [index], n)


def wrong_shape_model(n: int) -> bytes:
    """Answers one number for the whole batch instead of one per row."""
    nodes = [helper.make_node("ReduceMean", [INPUT_NAME], [OUTPUT_NAME], keepdims=1)]
    return graph_model(nodes, [], n)


def slow_model(n: int, width: int = 2048, depth: int = 400) -> bytes:
    """Correct-looking output, but hundreds of matrix products: far past any timeout."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((n, width)).astype(np.float32) * 0.01, "w_in"),
        numpy_helper.from_array((np.eye(width) * 0.5).astype(np.float32), "w_mid"),
        numpy_helper.from_array(np.zeros((width, 1), np.float32), "w_out"),
    ]
    nodes = [helper.make_node("MatMul", [INPUT_NAME, "w_in"], ["h0"])]
    for i in range(depth):
        # Tanh between the products: nothing for the graph optimizer to fold away.
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w_mid"], [f"p{i}"]))
        nodes.append(helper.make_node("Tanh", [f"p{i}"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("MatMul", [f"h{depth}", "w_out"], ["logit"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]))
    return graph_model(nodes, inits, n)
