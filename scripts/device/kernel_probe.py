"""Kernel-rate probe for issue 10 on the GPU machine: self-attention by backend and memory layout, and
bf16 vs float8 (row-wise scaled) GEMMs at the DiT's shapes. Prints one line per measurement."""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def bench(fn, iters=5):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def attention(batch, heads, tokens, d=128):
    flop = 4 * batch * heads * tokens * tokens * d
    for layout in ("bshd", "bhsd"):
        if layout == "bshd":  # the engine's: [B, L, H, D] storage viewed as [B, H, L, D]
            q, k, v = (torch.randn(batch, tokens, heads, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2) for _ in range(3))
        else:
            q, k, v = (torch.randn(batch, heads, tokens, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    s = bench(lambda: F.scaled_dot_product_attention(q, k, v))
                print(f"attention B{batch} H{heads} L{tokens} {layout} {name}: {s*1e3:.1f} ms, {flop/s/1e12:.0f} TFLOP/s")
            except Exception as e:
                print(f"attention {layout} {name}: failed {str(e)[:120]}")
        del q, k, v


def gemm(m, k, n):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
    flop = 2 * m * k * n
    s = bench(lambda: torch.nn.functional.linear(a, w))
    print(f"gemm bf16 {m}x{k}x{n}: {s*1e3:.2f} ms, {flop/s/1e12:.0f} TFLOP/s")
    a8 = a.to(torch.float8_e4m3fn)
    w8 = w.to(torch.float8_e4m3fn)
    sa = torch.ones(m, 1, device="cuda")
    sb = torch.ones(1, n, device="cuda")
    for fast in (False, True):
        try:
            s = bench(lambda: torch._scaled_mm(a8, w8.t(), sa, sb, out_dtype=torch.bfloat16, use_fast_accum=fast))
            print(f"gemm fp8 rowwise fast_accum={fast} {m}x{k}x{n}: {s*1e3:.2f} ms, {flop/s/1e12:.0f} TFLOP/s")
        except Exception as e:
            print(f"gemm fp8 rowwise fast_accum={fast}: failed {str(e)[:160]}")
    st = torch.ones((), device="cuda")
    s = bench(lambda: torch._scaled_mm(a8, w8.t(), st, st, out_dtype=torch.bfloat16, use_fast_accum=True))
    print(f"gemm fp8 tensorwise fast_accum=True {m}x{k}x{n}: {s*1e3:.2f} ms, {flop/s/1e12:.0f} TFLOP/s")


torch.manual_seed(0)
attention(2, 12, 51000)
attention(1, 40, 51000)
for (m, k, n) in ((51000, 5120, 5120), (51000, 5120, 13824), (51000, 13824, 5120), (102000, 1536, 8960), (102000, 8960, 1536)):
    gemm(m, k, n)
