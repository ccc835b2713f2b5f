"""Benchmark of reid_core.metrics on a Market-1501-sized problem (not part of the test suite).

Prints, for a deterministic synthetic problem of 3,368 queries x 15,913 gallery images:
``np.argsort(distmat, axis=1)`` time, ``evaluate_rank`` time and their ratio (target
<= 0.5), agreement with a per-query loop oracle, the peak extra memory of
``evaluate_rank`` in a fresh process relative to the distance matrix (target <= 2), and
``compute_distance_matrix`` time against a bare ``torch.mm`` of the same shapes (target
<= 1.2). Times are medians of ``--repeats`` interleaved runs.

Rows: "trained" features (a model in the range of published Market-1501 ones),
"weak" features (an early, bad trial: most of every row must be counted), and two
degenerate tie-heavy matrices on the same ids, "constant" (a collapsed model) and
"5 levels" (distances quantised to 5 values). The ratio target is for "trained".
Usage: ``.venv/bin/python bench/bench_metrics.py [--repeats N] [--skip-oracle]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid_core.metrics import compute_distance_matrix, evaluate_rank  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_metrics import oracle  # noqa: E402  (the slow obvious loop lives with the tests)

N_QUERY, N_GALLERY, N_IDS, N_CAMS, N_JUNK, N_DISTRACTORS, DIM = 3368, 15913, 750, 6, 2800, 3800, 2048
# Per-dimension noise around each identity centre (centres and noise are unit-variance
# Gaussians per dimension): 2.6 gives mAP 0.86 (a good model), 6.0 mAP 0.02 (a bad one).
QUALITIES = {"trained": 2.6, "weak": 6.0}


def market_like_features(seed: int, noise: float) -> tuple[np.ndarray, ...]:
    """Features = identity centre + camera offset + noise; ids and cameras like Market-1501.

    Gallery: 9,313 images of the 750 query identities (every identity at least once,
    ~12 each over 6 cameras), 2,800 junk images (pid -1: noisier views of random
    identities) and 3,800 distractors (pid 0: people outside the query set). Returns
    ``(q_feat, q_pids, q_cams, g_feat, g_pids, g_cams)``, gallery shuffled.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_IDS + 1 + N_DISTRACTORS, DIM), dtype=np.float32)
    camera_offset = 0.5 * rng.standard_normal((N_CAMS, DIM), dtype=np.float32)

    def images(centre_rows: np.ndarray, cams: np.ndarray, scale: float) -> np.ndarray:
        feats = rng.standard_normal((centre_rows.size, DIM), dtype=np.float32)
        feats *= (scale * rng.uniform(0.7, 1.3, centre_rows.size)).astype(np.float32)[:, None]
        feats += centres[centre_rows]
        feats += camera_offset[cams]
        return feats

    n_real = N_GALLERY - N_JUNK - N_DISTRACTORS
    real_pids = np.concatenate([np.arange(1, N_IDS + 1), rng.integers(1, N_IDS + 1, n_real - N_IDS)])
    q_pids = np.concatenate([np.arange(1, N_IDS + 1), rng.integers(1, N_IDS + 1, N_QUERY - N_IDS)])
    q_cams = rng.integers(0, N_CAMS, N_QUERY)
    real_cams = rng.integers(0, N_CAMS, n_real)
    junk_cams, distractor_cams = rng.integers(0, N_CAMS, N_JUNK), rng.integers(0, N_CAMS, N_DISTRACTORS)
    g_feat = np.concatenate([
        images(real_pids, real_cams, noise),
        images(rng.integers(1, N_IDS + 1, N_JUNK), junk_cams, 2 * noise),
        images(N_IDS + 1 + np.arange(N_DISTRACTORS), distractor_cams, noise),
    ])
    g_pids = np.concatenate([real_pids, np.full(N_JUNK, -1), np.zeros(N_DISTRACTORS, np.int64)])
    g_cams = np.concatenate([real_cams, junk_cams, distractor_cams])
    order = rng.permutation(N_GALLERY)
    return images(q_pids, q_cams, noise), q_pids, q_cams, g_feat[order], g_pids[order], g_cams[order]


# Run in a fresh interpreter: loads the matrix, resets the peak-RSS mark, evaluates, and
# reports the peak resident memory reached during evaluate_rank above what it started from.
MEMORY_PROBE = r"""
import json, re, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from reid_core.metrics import evaluate_rank
data = np.load(sys.argv[1])
args = [data[k] for k in ("distmat", "q_pids", "g_pids", "q_cams", "g_cams")]
def status(key):
    return int(re.search(key + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
evaluate_rank(args[0][:8], args[1][:8], *args[2:3], args[3][:8], args[4])  # imports, lazy init
rss_before = status("VmRSS")
reset = True
try:
    open("/proc/self/clear_refs", "w").write("5")  # Linux: reset the peak-RSS (VmHWM) mark
except OSError:
    reset = False
evaluate_rank(*args)
peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"extra": peak - rss_before, "matrix": args[0].nbytes, "peak_reset": reset}))
"""


def peak_extra_memory(distmat: np.ndarray, ids: tuple[np.ndarray, ...]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "problem.npz")
        np.savez(path, distmat=distmat, q_pids=ids[0], g_pids=ids[1], q_cams=ids[2], g_cams=ids[3])
        root = str(Path(__file__).resolve().parents[1])
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, path, root], capture_output=True, text=True,
                             check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_times(functions: dict, repeats: int) -> dict:
    """Median wall time of each function, the functions interleaved within each repeat."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def bench_problem(name: str, distmat: np.ndarray, ids: tuple[np.ndarray, ...], repeats: int,
                  skip_oracle: bool) -> dict:
    evaluate_rank(distmat[:8], ids[0][:8], ids[1], ids[2][:8], ids[3])  # warm-up outside the timings
    cmc, m_ap, m_inp = evaluate_rank(distmat, *ids)
    times = median_times({
        "argsort": lambda: np.argsort(distmat, axis=1),
        "evaluate_rank": lambda: evaluate_rank(distmat, *ids),
    }, repeats)
    row = {
        "name": name, "R1": cmc[0], "mAP": m_ap, "mINP": m_inp,
        "argsort_s": times["argsort"], "evaluate_s": times["evaluate_rank"],
        "ratio": times["evaluate_rank"] / times["argsort"],
    }
    memory = peak_extra_memory(distmat, ids)
    row["memory_ratio"] = memory["extra"] / memory["matrix"]
    row["peak_reset"] = memory["peak_reset"]
    if not skip_oracle:
        start = time.perf_counter()
        slow = oracle(distmat, *ids)
        row["oracle_s"] = time.perf_counter() - start
        row["max_abs_diff"] = max(float(np.abs(slow[0] - cmc).max()), abs(slow[1] - m_ap), abs(slow[2] - m_inp))
    return row


def problems(seed: int):
    """(name, distmat, ids): the two feature qualities, then two tie-heavy degenerate cases."""
    for name, noise in QUALITIES.items():
        q_feat, q_pids, q_cams, g_feat, g_pids, g_cams = market_like_features(seed, noise)
        distmat = compute_distance_matrix(torch.from_numpy(q_feat), torch.from_numpy(g_feat)).numpy()
        del q_feat, g_feat
        yield name, distmat, (q_pids, g_pids, q_cams, g_cams)
    ids = (q_pids, g_pids, q_cams, g_cams)
    # A collapsed model (every distance equal) and distances quantised to 5 levels: every
    # non-match ties with some match, the worst case for counting without sorting.
    yield "constant", np.zeros((N_QUERY, N_GALLERY), np.float32), ids
    levels = np.random.default_rng(seed).integers(0, 5, (N_QUERY, N_GALLERY)).astype(np.float32)
    yield "5 levels", levels, ids


def bench_distance(seed: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    query, gallery = torch.randn(N_QUERY, DIM, generator=gen), torch.randn(N_GALLERY, DIM, generator=gen)
    gallery_t = gallery.t()
    compute_distance_matrix(query[:8], gallery[:8])  # warm-up
    times = median_times({
        "torch.mm": lambda: torch.mm(query, gallery_t),
        "normalize=True": lambda: compute_distance_matrix(query, gallery, normalize=True),
        "normalize=False": lambda: compute_distance_matrix(query, gallery, normalize=False),
    }, repeats)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--skip-oracle", action="store_true", help="skip the slow per-query oracle check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"date {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"numpy {np.__version__}, median of {args.repeats}, load average {os.getloadavg()[0]:.2f}")
    print(f"problem: {N_QUERY} queries x {N_GALLERY} gallery ({N_JUNK} junk, {N_DISTRACTORS} distractors), "
          f"{N_IDS} ids, {N_CAMS} cameras, {DIM}-d L2-normalised features, float32 distances "
          f"({N_QUERY * N_GALLERY * 4 / 2**20:.0f} MiB)")
    header = f"{'distances':<9} {'R1':>6} {'mAP':>6} {'mINP':>6} {'argsort s':>10} {'evaluate s':>11} " \
             f"{'ratio':>6} {'mem x':>6} {'oracle s':>9} {'oracle diff':>12}"
    print(header)
    for name, distmat, ids in problems(args.seed):
        row = bench_problem(name, distmat, ids, args.repeats, args.skip_oracle)
        oracle_s = f"{row['oracle_s']:.1f}" if "oracle_s" in row else "skipped"
        diff = f"{row['max_abs_diff']:.1e}" if "max_abs_diff" in row else "skipped"
        print(f"{name:<9} {row['R1']:>6.3f} {row['mAP']:>6.3f} {row['mINP']:>6.3f} {row['argsort_s']:>10.3f} "
              f"{row['evaluate_s']:>11.3f} {row['ratio']:>6.3f} {row['memory_ratio']:>6.3f} {oracle_s:>9} {diff:>12}"
              + ("" if row["peak_reset"] else "  (peak not reset: ru_maxrss)"))
    times = bench_distance(args.seed, args.repeats)
    base = times["torch.mm"]
    print(f"compute_distance_matrix ({N_QUERY}x{DIM} by {DIM}x{N_GALLERY}): torch.mm {base:.3f} s, "
          f"normalize=True {times['normalize=True']:.3f} s ({times['normalize=True'] / base:.3f}x), "
          f"normalize=False {times['normalize=False']:.3f} s ({times['normalize=False'] / base:.3f}x)")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (other processes share the cores)")


if __name__ == "__main__":
    main()
