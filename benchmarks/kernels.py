"""The single operators behind the third speed round (docs/speed.md), each in gankit's form against the one it
replaced, on the shapes the 256 px generators and discriminators run them at:

  pads        a reflection pad's backward: torch's kernel (nn.ReflectionPad2d) against the engine's pad, which
              folds the gradient by slices (gankit_core/engine/pads.py); fp32 and bf16, NCHW
  statistics  AdaLIN/LIN's per-image, per-channel mean and variance: torch's one-pass var_mean against the two
              passes gankit_adalin.layers now makes, with each one's relative variance error against fp64
  matmul      U-GAT-IT's big spectral-norm discriminator convs, bf16 autocast, forward and backward: oneDNN's conv
              against the unfold and matrix product (gankit_core/matmul_conv.py)
  last-conv   CycleGAN's last conv (64 -> 3 channels, 7x7, 256 px, batch 2, fp32), forward and backward, in the
              forms tried for it and not kept: oneDNN's (NCHW, what gankit runs), channels-last inside the layer,
              the output channels padded to 16, a 1x1 conv to 3 x 49 channels and the 49 shifted maps summed

Median of 6 calls after 2 untimed ones, in one process, with the engine's allocator settings (keep_freed_memory)
so that no row pays page faults the others do not. Run it through the machine's lock, nothing else running.
Usage: python benchmarks/kernels.py [pads|statistics|matmul|last-conv ...]"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from gankit_core.engine.allocator import keep_freed_memory
from gankit_core.engine.pads import keep_pads_in_autocast_dtype
from gankit_core.matmul_conv import conv2d_as_matmul


def median_ms(run, *args, repeats: int = 6, warmup: int = 2) -> float:
    """Median wall time of ``run(*args)`` in ms."""
    for _ in range(warmup):
        run(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(*args)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def backward_ms(out: torch.Tensor, image: torch.Tensor, gradient: torch.Tensor) -> float:
    """The backward alone: each call runs it on the same graph."""
    return median_ms(torch.autograd.grad, out, image, gradient, True)  # retain_graph


def pads() -> None:
    print("reflection pad backward (input shape, pad): torch's kernel, the engine's slices, in ms")
    for dtype in (torch.float32, torch.bfloat16):
        for shape, padding in (((1, 256, 64, 64), 1), ((2, 256, 64, 64), 1), ((2, 128, 128, 128), 1),
                               ((1, 64, 256, 256), 3)):
            image = torch.randn(shape, dtype=dtype, requires_grad=True)
            plain = nn.ReflectionPad2d(padding)
            engine = keep_pads_in_autocast_dtype(nn.Sequential(nn.ReflectionPad2d(padding)))
            padded = plain(image)
            gradient = torch.randn_like(padded)
            times = [backward_ms(pad(image), image, gradient) for pad in (plain, engine)]
            name = str(dtype).removeprefix("torch.")
            print(f"  {name:9} {str(shape):20} pad {padding}: {times[0]:6.2f}  {times[1]:6.2f}", flush=True)


def one_pass_variance(image: torch.Tensor) -> torch.Tensor:
    return torch.var_mean(image.float(), dim=(2, 3), keepdim=True, correction=0)[0]


def two_pass_variance(image: torch.Tensor) -> torch.Tensor:
    mean = image.mean((2, 3), keepdim=True, dtype=torch.float32)
    return (image.float() - mean).square_().mean((2, 3), keepdim=True)


def layer_statistics() -> None:
    print("per-channel mean and variance of a bf16 map (shape): one-pass var_mean, two passes, in ms "
          "(relative variance error against fp64)")
    for shape in ((1, 256, 64, 64), (2, 256, 64, 64), (2, 64, 256, 256)):
        image = (torch.randn(shape) * 0.1 + 5).bfloat16()  # a mean large against the spread
        exact, _ = torch.var_mean(image.double(), dim=(2, 3), keepdim=True, correction=0)
        cells = []
        for form in (one_pass_variance, two_pass_variance):
            error = float(((form(image).double() - exact) / exact).abs().max())
            cells.append(f"{median_ms(form, image):6.2f} ({error:.0e})")
        print(f"  {str(shape):20} {cells[0]}  {cells[1]}", flush=True)


def conv_step(conv: nn.Conv2d, image: torch.Tensor, as_matmul: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        if as_matmul:
            out = conv2d_as_matmul(image, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)
        else:
            out = conv(image)
    out.float().sum().backward()


def matmul() -> None:
    print("conv forward and backward under bf16 autocast (channels, kernel, stride, batch, input size): oneDNN, "
          "unfold and matrix product, in ms")
    for c_in, c_out, kernel, stride, batch, size in ((1024, 2048, 4, 1, 2, 10), (1024, 2048, 4, 1, 1, 10),
                                                     (512, 1024, 4, 2, 2, 18), (256, 512, 4, 1, 2, 34)):
        conv = nn.Conv2d(c_in, c_out, kernel, stride)
        image = torch.randn(batch, c_in, size, size, requires_grad=True)
        times = [median_ms(conv_step, conv, image, as_matmul) for as_matmul in (False, True)]
        weights = c_in * c_out * kernel * kernel / 2**20
        print(f"  {c_in} -> {c_out} ({weights:.1f}M weights) k{kernel} s{stride} batch {batch} {size}px: "
              f"{times[0]:6.1f}  {times[1]:6.1f}", flush=True)


class ShiftedSum(torch.autograd.Function):
    """y[o] = sum over the k x k taps (a, b) of z[(a, b, o)] shifted by (a, b): the second half of a k x k conv
    written as a 1x1 conv to k k O channels; its backward writes the gradient into each tap's window."""

    @staticmethod
    def forward(ctx, taps: torch.Tensor, kernel: int, height: int, width: int) -> torch.Tensor:
        ctx.kernel, ctx.shape = kernel, taps.shape
        per_tap = taps.view(taps.shape[0], kernel, kernel, -1, *taps.shape[2:])
        out = per_tap[:, 0, 0, :, :height, :width].clone()
        for a in range(kernel):
            for b in range(kernel):
                if a or b:
                    out += per_tap[:, a, b, :, a : a + height, b : b + width]
        return out

    @staticmethod
    def backward(ctx, gradient: torch.Tensor):
        kernel, (height, width) = ctx.kernel, gradient.shape[-2:]
        taps = gradient.new_zeros(ctx.shape).view(ctx.shape[0], kernel, kernel, -1, *ctx.shape[2:])
        for a in range(kernel):
            for b in range(kernel):
                taps[:, a, b, :, a : a + height, b : b + width] = gradient
        return taps.view(ctx.shape), None, None, None


def last_conv_forms(conv: nn.Conv2d) -> dict:
    """The forms of ``conv`` (O x C x k x k, no padding) timed by ``last_conv``, each image -> output."""
    out_channels, kernel = conv.out_channels, conv.kernel_size[0]
    channels_last = nn.Conv2d(conv.in_channels, out_channels, kernel, bias=False).to(memory_format=torch.channels_last)
    channels_last.load_state_dict(conv.state_dict())
    padded = torch.cat([conv.weight.detach(), conv.weight.new_zeros(16 - out_channels, *conv.weight.shape[1:])])
    padded.requires_grad_(True)
    per_tap = conv.weight.detach().permute(2, 3, 0, 1).reshape(-1, conv.in_channels, 1, 1).clone().requires_grad_(True)

    def shifted(image: torch.Tensor) -> torch.Tensor:
        size = image.shape[-1] - kernel + 1
        return ShiftedSum.apply(torch.nn.functional.conv2d(image, per_tap), kernel, size, size)

    return {
        "oneDNN, NCHW": conv,
        "channels-last inside": lambda x: channels_last(x.contiguous(memory_format=torch.channels_last)).contiguous(),
        "output padded to 16": lambda x: torch.nn.functional.conv2d(x, padded)[:, :out_channels],
        "1x1 conv + shifted sums": shifted,
    }


def last_conv() -> None:
    print("CycleGAN's last conv, 64 -> 3, 7x7 on 2 x 64 x 262 x 262 (256 px out), fp32, forward and backward, in ms "
          "(largest difference from oneDNN's output)")
    conv = nn.Conv2d(64, 3, 7, bias=False)
    image = torch.randn(2, 64, 262, 262, requires_grad=True)
    gradient = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        expected = conv(image)
    for name, form in last_conv_forms(conv).items():
        with torch.no_grad():
            error = float((form(image) - expected).abs().max())
        print(f"  {name:26} {median_ms(forward_backward, form, image, gradient):7.1f}  ({error:.0e})", flush=True)


def forward_backward(form, image: torch.Tensor, gradient: torch.Tensor) -> None:
    form(image).backward(gradient)


KERNELS = {"pads": pads, "statistics": layer_statistics, "matmul": matmul, "last-conv": last_conv}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kernels", nargs="*", metavar="KERNEL", help="pads, statistics, matmul, last-conv (default: all)")
    args = parser.parse_args()
    unknown = [name for name in args.kernels if name not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel {unknown[0]!r}: choose from {', '.join(KERNELS)}")
    keep_freed_memory()
    torch.manual_seed(0)
    for name in args.kernels or KERNELS:
        KERNELS[name]()


if __name__ == "__main__":
    main()
