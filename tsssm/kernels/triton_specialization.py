"""What a compiled Triton kernel is valid for, as a key cheap enough to build at every launch.

Triton compiles a JIT function once per *specialization* of its runtime arguments (the binder
``JITFunction.run`` generates, ``native_specialize_impl`` in ``triton._C``) and looks the
compiled kernel up by it at every launch. It looks at, per argument:

- int: equal to 1 (then passed as the constant 1), divisible by 16, and its type by range
  (i32, i64, u64); a ``do_not_specialize`` parameter only by its range, and one in
  ``do_not_specialize_on_alignment`` not by divisibility;
- tensor: its dtype and whether its data pointer is 16-byte aligned (not under either list);
- float, bool, None: their type alone.

``scalar_class`` maps one non-tensor argument to a small value that holds exactly these
properties, ``tensor_alignment`` the tensors to their alignments (their dtypes the launchers
key on already), so that two argument tuples with equal classes get the same compiled kernel.
Tensors are keyed by alignment whatever their parameter's lists say: none of tsssm's kernels
exempts a pointer, and for one that did the key would only be finer than Triton's (one more
record, never a wrong kernel). ``launch_tail`` gives the arguments a launch passes after the
positional ones: every parameter in declaration order, as the binder's bound arguments.
"""

from __future__ import annotations

from torch import Tensor

NOT_SPECIALIZED, NOT_ALIGNED, SPECIALIZED = 0, 1, 2
"""A parameter's specialization: under ``do_not_specialize``, under
``do_not_specialize_on_alignment``, or neither."""

_ONE = -1  # an int passed as the constant 1
_I32 = range(-(1 << 31), 1 << 31)
_I64 = range(-(1 << 63), 1 << 63)
_U64 = range(1 << 64)
_UNSPECIALIZED_TYPES = (float, bool, type(None))
_DATA_PTR = Tensor.data_ptr
_LOW_BITS = (15).__and__
_IS_ZERO = (0).__eq__


def parameter_modes(jit) -> tuple[int, ...]:
    """The specialization mode of each parameter of the JIT function ``jit``, in declaration
    order (constexprs included; their values are keyed by the launchers)."""
    return tuple(NOT_SPECIALIZED if param.do_not_specialize else
                 NOT_ALIGNED if param.do_not_specialize_on_alignment else SPECIALIZED
                 for param in jit.params)


def tensor_alignment(tensors: tuple[Tensor, ...]) -> tuple[bool, ...]:
    """Whether each tensor's data pointer is 16-byte aligned (built-in calls only: this runs at
    every launch)."""
    return tuple(map(_IS_ZERO, map(_LOW_BITS, map(_DATA_PTR, tensors))))


def scalar_class(mode: int, arg: object) -> object:
    """What Triton's specialization sees of the non-tensor ``arg`` for a parameter of
    ``mode``: ints give ``_ONE`` or width (0, 2, 4 for i32, i64, u64; 6 for none, which Triton
    refuses) plus 1 when divisible by 16; float, bool and None their type."""
    kind = arg.__class__
    if kind is int:
        if mode and arg == 1:
            return _ONE
        width = 0 if arg in _I32 else 2 if arg in _I64 else 4 if arg in _U64 else 6
        return width + (mode == SPECIALIZED and not arg & 15)
    if kind in _UNSPECIALIZED_TYPES:
        return kind
    raise TypeError(f"a directly launched Triton kernel takes ints, floats, bools and None "
                    f"after its tensors, got {kind.__name__}")


def launch_tail(jit, positional: int, named: dict) -> tuple:
    """The values of the JIT function's parameters after its first ``positional`` ones, in
    declaration order: from ``named`` or the parameter's default."""
    params = jit.params
    passed = [param.name for param in params[:positional] if param.name in named]
    if passed or any(param.is_constexpr for param in params[:positional]):
        raise ValueError(f"{jit.__name__}: the positional arguments must be runtime parameters "
                         f"not also given by name, got {positional} with {sorted(named)}")
    missing = [param.name for param in params[positional:]
               if param.name not in named and not param.has_default]
    if missing:
        raise ValueError(f"{jit.__name__}: no value for the parameters {missing}")
    return tuple(named[param.name] if param.name in named else param.default
                 for param in params[positional:])
