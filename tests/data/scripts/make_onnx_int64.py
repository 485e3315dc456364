"""Writes tests/data/zoo/onnx-int64/model.onnx: a network whose input is int64, as Kipoi
models fed by `SeqIntervalDl(dtype=int)` take, used as indices (so a float input cannot
stand in for it). It counts the A/C/G/T bases of each window: x int64 [N, L, 4] ->
Gather([0.0, 1.0], x) -> ReduceSum over L and the channels -> y float [N, 1]. N positions
are all-zero rows, so y is the number of non-N bases.

    pip install onnx==1.23.2 onnxruntime
    python tests/data/scripts/make_onnx_int64.py tests/data/zoo/onnx-int64
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

out = Path(sys.argv[1])
axes = helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2])
table = helper.make_tensor("table", TensorProto.FLOAT, [2], [0.0, 1.0])
graph = helper.make_graph(
    [
        helper.make_node("Gather", ["table", "x"], ["xf"], axis=0),
        helper.make_node("ReduceSum", ["xf", "axes"], ["s"], keepdims=1),
        helper.make_node("Flatten", ["s"], ["y"], axis=1),
    ],
    "count_bases",
    [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 20, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    initializer=[axes, table],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out / "model.onnx")

import onnxruntime as ort

x = np.zeros((2, 20, 4), dtype=np.int64)
x[0, :5, 0] = 1
x[1, :, 2] = 1
y = ort.InferenceSession(str(out / "model.onnx")).run(None, {"x": x})[0]
assert y.tolist() == [[5.0], [20.0]], y
print("ok", y.ravel().tolist())
