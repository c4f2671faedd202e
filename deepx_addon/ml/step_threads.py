"""A training step with one thread between its matmuls: same weights, less waiting on busy CPUs.

Every op torch runs over more than ~32k numbers is an OpenMP parallel region that ends when its
slowest thread does. On cores shared with other work a thread is often descheduled, and a step of
DistanceNet has ~200 such regions: LayerNorm, ReLU, residual adds, their backward, AdamW's
updates. With the cores busy (2 render processes beside training) a step took 2.1x the time of its
matmuls at the same thread count (scripts/bench_train.py).

``StepThreads`` keeps ``threads`` threads only where the arithmetic depends on them or the work is
large: every ``nn.Linear`` (its matmuls forward and backward, and the bias-gradient sum of
``AddmmBackward0``) and the backward of every ``nn.LayerNorm`` (its weight and bias gradients are
sums split per thread: 1 and 2 threads round differently). Everything else in a step runs on one
thread: element-wise ops and LayerNorm's forward (one row per thread) give bit-identical results
for any thread count, so the weights stay exactly those of an all-``threads`` step.

Forward hooks on the modules switch the count around each Linear, and hooks on the autograd nodes
they create switch it around the backward; the CPU autograd engine runs the backward in the
calling thread, where ``torch.set_num_threads`` applies. Outside ``step()`` the hooks do nothing.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class StepThreads:
    """``with StepThreads(net, threads) as st: ... with st.step(): loss.backward() ...``"""

    def __init__(self, net: nn.Module, threads: int):
        self.threads, self.active, self.handles = int(threads), False, []
        self.net = net

    def __enter__(self) -> "StepThreads":
        if self.threads > 1:
            for m in self.net.modules():
                if isinstance(m, nn.Linear):
                    self.handles += [m.register_forward_pre_hook(self._all_threads),
                                     m.register_forward_hook(self._after_linear)]
                elif isinstance(m, nn.LayerNorm):
                    self.handles.append(m.register_forward_hook(self._after_norm))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
        torch.set_num_threads(self.threads)

    @contextmanager
    def step(self):
        """One thread inside (except where the hooks give ``threads``), ``threads`` after."""
        self.active = self.threads > 1
        if self.active:
            torch.set_num_threads(1)
        try:
            yield self
        finally:
            self.active = False
            torch.set_num_threads(self.threads)

    # ---- hooks ----------------------------------------------------------------------------------
    def _all_threads(self, *_):
        if self.active:
            torch.set_num_threads(self.threads)

    def _one_thread(self, *_):
        if self.active:
            torch.set_num_threads(1)

    def _backward_with_all_threads(self, out) -> None:
        node = getattr(out, "grad_fn", None)
        if self.active and node is not None:
            node.register_prehook(self._all_threads)
            node.register_hook(self._one_thread)

    def _after_linear(self, module, inputs, out):
        self._backward_with_all_threads(out)
        self._one_thread()

    def _after_norm(self, module, inputs, out):
        self._backward_with_all_threads(out)
