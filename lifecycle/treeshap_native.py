"""The per-row loop of ``lifecycle.treeshap`` as native code (llvmlite, which lleaves brings).

The tables of ``TreeShap`` trade CPU for memory (~10 MB for the demo's churn model), and on
a shared 2-core box reading them at random evicts the compiled trees a request needs next.
This kernel computes each leaf's shares from the leaf's cover fractions instead (the same
Gauss-Legendre integral the tables are built with, for the row's one pattern): under 1 MB
read per row. It is compiled once per process, in milliseconds; anything that goes wrong
leaves the tables in use.

Per leaf: the stray bits of its distinct path features (a split the row does not follow),
then for each quadrature point ``u`` the product of ``z_k + (o_k - z_k) u`` over the path,
and for each feature ``i`` the share ``v w (o_i - z_i) product / (z_i + (o_i - z_i) u)``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

import numpy as np

logger = logging.getLogger("lifecycle.compiled")

MAX_POINTS = 32  # Gauss-Legendre points kept: paths of up to 63 distinct features
_IR = r"""
define void @shap_row(i8* %left, i64* %snode, i8* %sleft, i64* %sbit, i64* %lend,
                      i64* %depth, i64* %estart, i64* %efeat, double* %cover, double* %value,
                      double* %unode, double* %uweight, double* %phi, i64 %leaves) {
entry:
  br label %leaf_head
leaf_head:
  %L = phi i64 [0, %entry], [%L1, %q_done]
  %s0 = phi i64 [0, %entry], [%send, %q_done]
  %more = icmp slt i64 %L, %leaves
  br i1 %more, label %leaf_body, label %exit
leaf_body:
  %pend = getelementptr i64, i64* %lend, i64 %L
  %send = load i64, i64* %pend
  br label %step_head
step_head:
  %s = phi i64 [%s0, %leaf_body], [%s1, %step_body]
  %stray = phi i64 [0, %leaf_body], [%stray1, %step_body]
  %smore = icmp slt i64 %s, %send
  br i1 %smore, label %step_body, label %steps_done
step_body:
  %pn = getelementptr i64, i64* %snode, i64 %s
  %n = load i64, i64* %pn
  %pl = getelementptr i8, i8* %left, i64 %n
  %l = load i8, i8* %pl
  %psl = getelementptr i8, i8* %sleft, i64 %s
  %sl = load i8, i8* %psl
  %diff = icmp ne i8 %l, %sl
  %pb = getelementptr i64, i64* %sbit, i64 %s
  %b = load i64, i64* %pb
  %bb = select i1 %diff, i64 %b, i64 0
  %stray1 = or i64 %stray, %bb
  %s1 = add i64 %s, 1
  br label %step_head
steps_done:
  %pd = getelementptr i64, i64* %depth, i64 %L
  %d = load i64, i64* %pd
  %pe = getelementptr i64, i64* %estart, i64 %L
  %e0 = load i64, i64* %pe
  %pv = getelementptr double, double* %value, i64 %L
  %v = load double, double* %pv
  %d1 = add i64 %d, 1
  %points = lshr i64 %d1, 1
  %pm1 = sub i64 %points, 1
  %tri = mul i64 %points, %pm1
  %qoff = lshr i64 %tri, 1
  br label %q_head
q_head:
  %q = phi i64 [0, %steps_done], [%q1, %i_done]
  %qmore = icmp slt i64 %q, %points
  br i1 %qmore, label %q_body, label %q_done
q_body:
  %qi = add i64 %qoff, %q
  %pu = getelementptr double, double* %unode, i64 %qi
  %u = load double, double* %pu
  %pw = getelementptr double, double* %uweight, i64 %qi
  %w = load double, double* %pw
  br label %k_head
k_head:
  %k = phi i64 [0, %q_body], [%k1, %k_body]
  %prod = phi double [1.0, %q_body], [%prod1, %k_body]
  %kmore = icmp slt i64 %k, %d
  br i1 %kmore, label %k_body, label %k_done
k_body:
  %ek = add i64 %e0, %k
  %pz = getelementptr double, double* %cover, i64 %ek
  %z = load double, double* %pz
  %ob = lshr i64 %stray, %k
  %obit = and i64 %ob, 1
  %follows = icmp eq i64 %obit, 0
  %o = select i1 %follows, double 1.0, double 0.0
  %oz = fsub double %o, %z
  %ozu = fmul double %oz, %u
  %f = fadd double %z, %ozu
  %prod1 = fmul double %prod, %f
  %k1 = add i64 %k, 1
  br label %k_head
k_done:
  %wp = fmul double %w, %prod
  %vwp = fmul double %v, %wp
  br label %i_head
i_head:
  %i = phi i64 [0, %k_done], [%i1, %i_body]
  %imore = icmp slt i64 %i, %d
  br i1 %imore, label %i_body, label %i_done
i_body:
  %ei = add i64 %e0, %i
  %pzi = getelementptr double, double* %cover, i64 %ei
  %zi = load double, double* %pzi
  %oib = lshr i64 %stray, %i
  %oibit = and i64 %oib, 1
  %ifollows = icmp eq i64 %oibit, 0
  %oi = select i1 %ifollows, double 1.0, double 0.0
  %ozi = fsub double %oi, %zi
  %oziu = fmul double %ozi, %u
  %fi = fadd double %zi, %oziu
  %share = fdiv double %vwp, %fi
  %term = fmul double %share, %ozi
  %pf = getelementptr i64, i64* %efeat, i64 %ei
  %feat = load i64, i64* %pf
  %pp = getelementptr double, double* %phi, i64 %feat
  %p = load double, double* %pp
  %p1 = fadd double %p, %term
  store double %p1, double* %pp
  %i1 = add i64 %i, 1
  br label %i_head
i_done:
  %q1 = add i64 %q, 1
  br label %q_head
q_done:
  %L1 = add i64 %L, 1
  br label %leaf_head
exit:
  ret void
}
"""
_ARGUMENTS = 13  # pointers before the leaf count
_lock = threading.Lock()
_kernel: list[Any] = []  # [(engine, function)] once compiled, [None] when it cannot be


def kernel() -> Any:
    """The compiled per-row function, or None (logged once) when it cannot be compiled."""
    with _lock:
        if not _kernel:
            try:
                import llvmlite.binding as llvm

                llvm.initialize()
                llvm.initialize_native_target()
                llvm.initialize_native_asmprinter()
                module = llvm.parse_assembly(_IR)
                module.verify()
                machine = llvm.Target.from_default_triple().create_target_machine(opt=2)
                engine = llvm.create_mcjit_compiler(module, machine)
                engine.finalize_object()
                signature = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * _ARGUMENTS, ctypes.c_int64)
                # the engine owns the code: kept alive beside the function
                _kernel.append((engine, signature(engine.get_function_address("shap_row"))))
            except Exception as error:  # an optimisation: the tables answer instead
                logger.warning(
                    "TreeSHAP kernel not compiled (%s: %s): tables", type(error).__name__, error
                )
                _kernel.append(None)
        found = _kernel[0]
    return None if found is None else found[1]


def quadrature() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] for 1..MAX_POINTS points, packed (the
    ``p`` points start at ``p (p - 1) / 2``)."""
    nodes, weights = [], []
    for points in range(1, MAX_POINTS + 1):
        x, w = np.polynomial.legendre.leggauss(points)
        nodes.append((x + 1.0) / 2.0)
        weights.append(w / 2.0)
    return np.concatenate(nodes), np.concatenate(weights)


class NativeRows:
    """A model's leaves as the kernel reads them; :meth:`add` adds rows' contributions."""

    def __init__(self, function: Any, arrays: dict[str, np.ndarray], leaves: int) -> None:
        self._function = function
        self._leaves = leaves
        nodes, weights = quadrature()
        order = ("snode", "sleft", "sbit", "lend", "depth", "estart", "efeat", "cover", "value")
        self._arrays = [np.ascontiguousarray(arrays[name]) for name in order] + [nodes, weights]
        self._pointers = [a.ctypes.data for a in self._arrays]

    def add(self, goes_left: np.ndarray, out: np.ndarray) -> None:
        """``out[r] += `` the contributions of the row whose split decisions are ``goes_left[r]``."""
        decisions = np.ascontiguousarray(goes_left, dtype=np.uint8)
        width, features = decisions.shape[1], out.shape[1]
        assert out.flags.c_contiguous and out.dtype == np.float64
        for row in range(len(decisions)):
            self._function(
                decisions.ctypes.data + row * width,
                *self._pointers,
                out.ctypes.data + row * features * 8,
                self._leaves,
            )
