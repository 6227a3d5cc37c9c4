"""Data parallel across processes launched by torchrun: rank discovery, parameter sync, gradient averaging.

Gradients are averaged with one all-reduce per optimizer step rather than through the DDP wrapper:
a GAN step runs the discriminator several times before one backward (real, fake, the penalty's
double backward) and backpropagates the generator's loss through the discriminator, patterns that
DDP's bucketed reducer handles poorly (StyleGAN2-ADA averages gradients the same way).
"""

from __future__ import annotations

import atexit
import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group torchrun describes in the environment; one process needs none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    context = DistributedContext(rank, world_size, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        # Imported before the group exists, never after: importing torch._dynamo (which torch.optim does when
        # the first optimizer is built) once a group exists leaves ten references to the group held from C++,
        # so destroy_process_group cannot free it, and its backend threads (gloo_tcp_loop, pt_gloo_runloop)
        # live on into the interpreter's and C++'s teardown, where about one exit in 20 aborted with
        # "terminate called without an active exception" (exit -6). tests/test_ddp.py checks that no gloo
        # thread outlives the shutdown below.
        importlib.import_module("torch._dynamo")  # not "import torch._dynamo": that would make torch a local name

        dist.init_process_group(backend=backend)
        # The engine joined the group, so it leaves it before the interpreter's teardown.
        atexit.register(shutdown, context)
    return context


def local_rank_hint() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def broadcast_module(module: torch.nn.Module, context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers."""
    if not context.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], context: DistributedContext) -> None:
    """Average the gradients of ``params`` over ranks in one flattened all-reduce."""
    if not context.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= context.world_size
    offset = 0
    for g in grads:
        count = g.numel()
        g.copy_(flat[offset : offset + count].view_as(g))
        offset += count


def broadcast_buffers(modules: Iterable[torch.nn.Module], context: DistributedContext) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics, an image pool's history), one broadcast per dtype.

    DDP does the same before each forward (``broadcast_buffers``). Without it the ranks drift apart: on CPUs
    batch norm is not synchronised, so each rank's running statistics follow its own shard, and each rank's
    image pool keeps its own fakes. A checkpoint holds rank 0's state only, so ranks that differ could not all
    resume exactly, and a frozen network in eval mode would normalise differently on each rank.
    """
    if not context.enabled:
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for module in modules:
        for buffer in module.buffers():
            by_dtype.setdefault(buffer.dtype, []).append(buffer)
    for buffers in by_dtype.values():
        flat = torch.cat([b.detach().reshape(-1) for b in buffers])
        dist.broadcast(flat, src=0)
        offset = 0
        for buffer in buffers:
            count = buffer.numel()
            buffer.data.copy_(flat[offset : offset + count].view_as(buffer))
            offset += count


def any_rank_true(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` holds on any rank, so all ranks take the same branch (a stop request,
    a non-finite loss) and none is left waiting in a collective the others skipped."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def shutdown(context: DistributedContext) -> None:
    """Leave the process group together: without the barrier a rank that tears its connections down
    first can abort its peer's teardown."""
    if context.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
