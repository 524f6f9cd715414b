"""Test-session set-up: GPU-marked tests skip without CUDA; Triton kernels run through Triton's
interpreter when there is no GPU.

Why here, at import time: Triton decides interpreted-or-compiled once per kernel, when its
``@triton.jit`` decorator runs (it reads ``TRITON_INTERPRET`` then), i.e. when the module that
defines the kernel is first imported. So the variable must be set before any kernel module is
imported in this process. pytest imports this root conftest before it collects (imports) any
test module, so that holds whatever tests are selected.

Two changes to the interpreter itself, made only when it is on, neither of which changes what a
kernel computes:

- Triton 3.6 turns a run-time loop bound into a Python int with ``int(array)``, which NumPy >=
  2.4 refuses for a 1-element array (triton-lang/triton#9171, fixed upstream after 3.6): the
  bound is read with ``.item()`` instead.
- Its ``tl.associative_scan`` with a user combine function calls the function once per element,
  in Python; the scan kernels' chunks made it most of the test time. It is replaced by the same
  sequential scan called once per position along the axis, on whole slices.
"""

import os

import numpy as np
import pytest
import torch

pytest_plugins = ["tests.checkpoints"]

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def _read_loop_bounds_with_item() -> None:
    """Make the interpreter's tensor ``__index__`` accept 1-element arrays (triton#9171)."""
    from triton.runtime import interpreter

    patch_tensor = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

    interpreter._patch_lang_tensor = patched


def _scan_slice_by_slice(self, inputs):
    """``acc_0 = x_0``, ``acc_i = combine(acc_{i-1}, x_i)`` along ``self.axis``, as Triton's
    element-by-element ``generic_scan`` does, with every combine call taking a whole slice."""
    slices = [np.moveaxis(arg.handle.data, self.axis, 0) for arg in inputs]
    outputs = [np.empty_like(s) for s in slices]
    acc = None
    for i in range(slices[0].shape[0]):
        current = tuple(self.to_tensor(s[i], arg.dtype) for s, arg in zip(slices, inputs))
        if acc is None:
            acc = current
        else:
            combined = self.combine_fn.fn(*acc, *current)
            acc = combined if isinstance(combined, tuple) else (combined,)
        for out, value in zip(outputs, acc):
            out[i] = np.reshape(value.handle.data, out[i].shape)
    return [self.to_tensor(np.moveaxis(out, 0, self.axis), arg.dtype)
            for out, arg in zip(outputs, inputs)]


def _int_of_one_element_array_fails() -> bool:
    try:
        int(np.ones(1))
    except TypeError:
        return True
    return False


if os.environ.get("TRITON_INTERPRET") == "1":
    from triton.runtime import interpreter as _interpreter

    _interpreter.ScanOps.generic_scan = _scan_slice_by_slice
    if _int_of_one_element_array_fails():
        _read_loop_bounds_with_item()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.gpu`` tests where no CUDA device is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
