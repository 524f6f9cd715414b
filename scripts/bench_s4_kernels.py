"""Time the S4 kernels (Triton vs the plain-torch reference) on one CUDA GPU.

S4's setting: H channels, N/2 complex modes; the S4D Vandermonde kernel of length L, and the DPLR
Cauchy kernel over the L/2 + 1 frequencies of a length-L FFT with 4 numerator rows.

    python scripts/bench_s4_kernels.py --heads 256 --modes 64 --length 16384
"""

from __future__ import annotations

import argparse

import torch
import triton

from tsssm.kernels.s4 import cauchy_kernel, vandermonde_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=256)
    parser.add_argument("--modes", type=int, default=64)
    parser.add_argument("--length", type=int, default=16384)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_s4_kernels: needs a CUDA GPU")
    torch.manual_seed(0)
    H, N, L = args.heads, args.modes, args.length
    C = torch.randn(H, N, dtype=torch.cfloat, device="cuda", requires_grad=True)
    dtA = torch.complex(-0.01 * torch.rand(H, N), torch.rand(H, N)).cuda().requires_grad_()
    z = torch.exp(-2j * torch.pi * torch.arange(L // 2 + 1, device="cuda") / L).to(torch.cfloat)
    v = torch.randn(4, H, N, dtype=torch.cfloat, device="cuda", requires_grad=True)
    print(f"{torch.cuda.get_device_name()}  H={H} N={N} L={L}  (ms, do_bench median)")
    print("kernel        backend     fwd      fwd+bwd")
    for name, run in (("vandermonde", lambda b: vandermonde_kernel(C, dtA, L, backend=b)),
                      ("cauchy", lambda b: cauchy_kernel(v, z, dtA, backend=b))):
        for backend in ("triton", "reference"):
            with torch.no_grad():
                fwd = triton.testing.do_bench(lambda: run(backend), return_mode="median")
            both = triton.testing.do_bench(lambda: run(backend).abs().sum().backward(),
                                           return_mode="median")
            print(f"{name:13s} {backend:10s} {fwd:8.3f} {both:10.3f}")


if __name__ == "__main__":
    main()
