"""The per-row loop of ``lifecycle.treeshap`` as native code (llvmlite, which lleaves brings).

The tables of ``TreeShap`` trade CPU for memory (~10 MB for the demo's churn model), and on
a shared 2-core box reading them at random evicts the compiled trees a request needs next.
This kernel computes each leaf's shares from the leaf's cover fractions instead (the same
Gauss-Legendre integral the tables are built with, for the row's one pattern): ~0.5 MB
read per row for the demo's churn model (32-bit positions, one byte per path step). It is compiled once per process, in milliseconds; anything that goes wrong
leaves the tables in use.

Per leaf: the stray bits of its distinct path features (a split the row does not follow),
then for each quadrature point ``u`` the factors ``f_k = z_k + (o_k - z_k) u`` of the path,
and for each feature ``i`` the product of the others as prefix times suffix products
(no division: it was half the kernel's time); feature ``i`` gets
``v (o_i - z_i) sum_u w prod_{k != i} f_k``.
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
define void @shap_row(i8* %left, i32* %snode, i8* %sinfo, i32* %lend, i32* %estart,
                      i32* %efeat, double* %cover, double* %value, double* %unode,
                      double* %uweight, double* %phi, i64 %leaves) {
entry:
  %factor = alloca double, i64 64
  %prefix = alloca double, i64 65
  %acc = alloca double, i64 64
  %oz = alloca double, i64 64
  br label %leaf_head
leaf_head:
  %L = phi i64 [0, %entry], [%L1, %out_head_exit]
  %s0 = phi i64 [0, %entry], [%send, %out_head_exit]
  %more = icmp slt i64 %L, %leaves
  br i1 %more, label %leaf_body, label %exit
leaf_body:
  %pend = getelementptr i32, i32* %lend, i64 %L
  %send32 = load i32, i32* %pend
  %send = sext i32 %send32 to i64
  br label %step_head
step_head:
  %s = phi i64 [%s0, %leaf_body], [%s1, %step_body]
  %stray = phi i64 [0, %leaf_body], [%stray1, %step_body]
  %smore = icmp slt i64 %s, %send
  br i1 %smore, label %step_body, label %steps_done
step_body:
  %pn = getelementptr i32, i32* %snode, i64 %s
  %n32 = load i32, i32* %pn
  %n = sext i32 %n32 to i64
  %pl = getelementptr i8, i8* %left, i64 %n
  %l = load i8, i8* %pl
  %pinfo = getelementptr i8, i8* %sinfo, i64 %s
  %info = load i8, i8* %pinfo
  %went = lshr i8 %info, 7
  %diff8 = xor i8 %l, %went
  %diff = zext i8 %diff8 to i64
  %slot8 = and i8 %info, 63
  %slot = zext i8 %slot8 to i64
  %bit = shl i64 %diff, %slot
  %stray1 = or i64 %stray, %bit
  %s1 = add i64 %s, 1
  br label %step_head
steps_done:
  %pe0 = getelementptr i32, i32* %estart, i64 %L
  %e032 = load i32, i32* %pe0
  %e0 = sext i32 %e032 to i64
  %L1 = add i64 %L, 1
  %pe1 = getelementptr i32, i32* %estart, i64 %L1
  %e132 = load i32, i32* %pe1
  %e1 = sext i32 %e132 to i64
  %d = sub i64 %e1, %e0
  %pv = getelementptr double, double* %value, i64 %L
  %v = load double, double* %pv
  %d1 = add i64 %d, 1
  %points = lshr i64 %d1, 1
  %pm1 = sub i64 %points, 1
  %tri = mul i64 %points, %pm1
  %qoff = lshr i64 %tri, 1
  br label %init_head
init_head:
  %k = phi i64 [0, %steps_done], [%k1, %init_body]
  %kmore = icmp slt i64 %k, %d
  br i1 %kmore, label %init_body, label %q_head
init_body:
  %ek = add i64 %e0, %k
  %pz = getelementptr double, double* %cover, i64 %ek
  %z = load double, double* %pz
  %ob = lshr i64 %stray, %k
  %obit = and i64 %ob, 1
  %follows = icmp eq i64 %obit, 0
  %o = select i1 %follows, double 1.0, double 0.0
  %ozk = fsub double %o, %z
  %poz = getelementptr double, double* %oz, i64 %k
  store double %ozk, double* %poz
  %pacc = getelementptr double, double* %acc, i64 %k
  store double 0.0, double* %pacc
  %k1 = add i64 %k, 1
  br label %init_head
q_head:
  %q = phi i64 [0, %init_head], [%q1, %i_head_exit]
  %qmore = icmp slt i64 %q, %points
  br i1 %qmore, label %q_body, label %out_head
q_body:
  %qi = add i64 %qoff, %q
  %pu = getelementptr double, double* %unode, i64 %qi
  %u = load double, double* %pu
  %pw = getelementptr double, double* %uweight, i64 %qi
  %w = load double, double* %pw
  %p0 = getelementptr double, double* %prefix, i64 0
  store double 1.0, double* %p0
  br label %f_head
f_head:
  %fk = phi i64 [0, %q_body], [%fk1, %f_body]
  %run = phi double [1.0, %q_body], [%run1, %f_body]
  %fmore = icmp slt i64 %fk, %d
  br i1 %fmore, label %f_body, label %i_head
f_body:
  %fe = add i64 %e0, %fk
  %pzf = getelementptr double, double* %cover, i64 %fe
  %zf = load double, double* %pzf
  %pozf = getelementptr double, double* %oz, i64 %fk
  %ozf = load double, double* %pozf
  %ozu = fmul double %ozf, %u
  %f = fadd double %zf, %ozu
  %pf = getelementptr double, double* %factor, i64 %fk
  store double %f, double* %pf
  %run1 = fmul double %run, %f
  %fk1 = add i64 %fk, 1
  %pp = getelementptr double, double* %prefix, i64 %fk1
  store double %run1, double* %pp
  br label %f_head
i_head:
  %i = phi i64 [%d, %f_head], [%im1, %i_body]
  %suffix = phi double [1.0, %f_head], [%suffix1, %i_body]
  %imore = icmp sgt i64 %i, 0
  br i1 %imore, label %i_body, label %i_head_exit
i_body:
  %im1 = sub i64 %i, 1
  %ppre = getelementptr double, double* %prefix, i64 %im1
  %pre = load double, double* %ppre
  %without = fmul double %pre, %suffix
  %weighted = fmul double %w, %without
  %pai = getelementptr double, double* %acc, i64 %im1
  %a = load double, double* %pai
  %a1 = fadd double %a, %weighted
  store double %a1, double* %pai
  %pfi = getelementptr double, double* %factor, i64 %im1
  %fi = load double, double* %pfi
  %suffix1 = fmul double %suffix, %fi
  br label %i_head
i_head_exit:
  %q1 = add i64 %q, 1
  br label %q_head
out_head:
  %ok = phi i64 [0, %q_head], [%ok1, %out_body]
  %omore = icmp slt i64 %ok, %d
  br i1 %omore, label %out_body, label %out_head_exit
out_body:
  %oe = add i64 %e0, %ok
  %pfe = getelementptr i32, i32* %efeat, i64 %oe
  %feat32 = load i32, i32* %pfe
  %feat = sext i32 %feat32 to i64
  %pozo = getelementptr double, double* %oz, i64 %ok
  %ozo = load double, double* %pozo
  %pao = getelementptr double, double* %acc, i64 %ok
  %ao = load double, double* %pao
  %vo = fmul double %v, %ozo
  %term = fmul double %vo, %ao
  %pphi = getelementptr double, double* %phi, i64 %feat
  %p = load double, double* %pphi
  %p1 = fadd double %p, %term
  store double %p1, double* %pphi
  %ok1 = add i64 %ok, 1
  br label %out_head
out_head_exit:
  br label %leaf_head
exit:
  ret void
}
"""
_ARGUMENTS = 11  # pointers before the leaf count
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
                # for this CPU, as lleaves compiles the trees (no fused multiply-adds: LLVM
                # fuses only when told to, so the values do not depend on the CPU)
                machine = llvm.Target.from_default_triple().create_target_machine(
                    cpu=llvm.get_host_cpu_name(),
                    features=llvm.get_host_cpu_features().flatten(),
                    opt=3,
                )
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
        self.named = arrays  # as given: what a saved TreeShap keeps (lifecycle.treeshap)
        nodes, weights = quadrature()
        order = ("snode", "sinfo", "lend", "estart", "efeat", "cover", "value")
        self._arrays = [np.ascontiguousarray(arrays[name]) for name in order] + [nodes, weights]
        self._pointers = [a.ctypes.data for a in self._arrays]

    @property
    def bytes_read(self) -> int:
        """What the kernel reads for one row, besides the row's split decisions."""
        return sum(a.nbytes for a in self._arrays)

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
