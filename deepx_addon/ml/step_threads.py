"""A training step with one thread between its matmuls: same weights, less waiting on busy CPUs.

Every op torch runs over more than ~32k numbers is an OpenMP parallel region that ends when its
slowest thread does. On cores shared with other work a thread is often descheduled, and a step of
DistanceNet has ~200 such regions: LayerNorm, ReLU, residual adds, their backward, AdamW's
updates. With the cores busy (2 render processes beside training) the loop took 1.9-2.4x the time
of its matmuls at the same thread count, 1.5-1.7x with this (scripts/bench_train.py, README).

``StepThreads`` keeps ``threads`` threads only where the arithmetic depends on them or the work is
large: every ``nn.Linear`` (its matmuls forward and backward, and the bias-gradient sum of
``AddmmBackward0``) and the backward of every ``nn.LayerNorm`` (its weight and bias gradients are
sums split per thread: 1 and 2 threads round differently). Everything else in a step runs on one
thread: element-wise ops and LayerNorm's forward (one row per thread) give bit-identical results
for any thread count, so the weights stay exactly those of an all-``threads`` step. Other sums
(the loss's mean over a batch of more than ~32k rows would be split per thread) go inside
``all_threads()``.

Forward hooks on the modules switch the count around each Linear, and hooks on the autograd nodes
they create switch it around the backward; the CPU autograd engine runs the backward in the
calling thread, where ``torch.set_num_threads`` applies. Outside ``step()`` the hooks do nothing.

On idle cores the second thread may help the element-wise ops more than its waits cost. As the
count between the matmuls does not change the arithmetic, it is chosen by timing: from timed step
``PROBE_FROM`` of every ``PROBE_EVERY`` (the first two warm up), ``PROBE_PAIRS`` pairs of steps run
one at ``threads`` and one at 1 (in the order ``threads``, 1, 1, ``threads``, ...: a steady change
in load cancels), each timed over its whole period, from its start to the next timed step's start
(the optimiser step, the evaluations and the wait for the next batch depend on the count too).
1 is kept until the next probe if the median pair's ratio (time at 1 / at ``threads``) is < 1.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch import nn


class StepThreads:
    """``with StepThreads(net, threads) as st: ... with st.step(timed=True): loss.backward() ...``;
    ``between``: a fixed thread count between the matmuls instead of the probes' choice."""

    PROBE_EVERY, PROBE_FROM, PROBE_PAIRS = 100, 2, 6     # 6 steps of 100 at the slower count

    def __init__(self, net: nn.Module, threads: int, between: int | None = None):
        self.net, self.threads = net, int(threads)
        self.probes = between is None and self.threads > 1
        self.between = 1 if between is None else int(between)     # threads between the matmuls
        self.active, self.inside, self.handles = False, False, []
        self.timed, self.started, self.trials = 0, None, []
        self.choices: list[tuple[int, int]] = []   # (first timed step with it, from 1; threads between) per probe

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
    def step(self, timed: bool = False):
        """``between`` threads inside (``threads`` where the hooks say), ``threads`` after. ``timed``:
        the start of a training step (its forward and backward), which the probes time."""
        if timed and self.probes:
            self._probe()
        self.timed += bool(timed)
        self.active, self.inside = self.between < self.threads, True
        torch.set_num_threads(self.between)
        try:
            yield self
        finally:
            self.active = self.inside = False
            torch.set_num_threads(self.threads)

    def _probe(self) -> None:
        """At a timed step's start: end the previous probe step's period; set the count of this one."""
        now, n = time.perf_counter(), self.timed % self.PROBE_EVERY - self.PROBE_FROM
        if self.started is not None:
            self.trials.append((self.between, now - self.started))
        self.started = None
        if 0 <= n < 2 * self.PROBE_PAIRS:
            pair = (self.threads, 1) if n % 4 < 2 else (1, self.threads)
            self.between, self.started = pair[n % 2], now
        elif n == 2 * self.PROBE_PAIRS and self.trials:
            t = [dict(self.trials[i:i + 2]) for i in range(0, len(self.trials) - 1, 2)]
            faster = statistics.median(p[1] / p[self.threads] for p in t if len(p) == 2) < 1
            self.between = 1 if faster else self.threads
            self.choices.append((self.timed + 1, self.between))
            self.trials = []

    @contextmanager
    def all_threads(self):
        """``threads`` threads inside (for a sum split per thread), then what was set before."""
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(self.between if self.inside else self.threads)

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
