"""Dataset scans: images/s against a bare batched forward, and peak memory for 1,000 vs 10,000 images.

Targets (issue 18): a scan runs at >= 0.8x the images/s of a bare batched forward over the same
decoded data, and its peak memory for 10,000 images is within 10 % of that for 1,000.

The script writes its own folders (photo-like 400x300 JPEGs: a colour gradient, a few soft-edged
shapes, sensor-like noise; 10 class folders) into a temporary folder and times that. Per model:
- **scan**: ``scan_folder`` as the CLI runs it (default decoding workers, batch 32, two layers'
  top-k, pooled features, top-5, the state saved after every batch), the whole call timed;
- **loader+fwd**: the same DataLoader (the scan's own dataset and collate: the same decoding,
  resize and crop, the same workers and forward threads) feeding ``normalise`` + ``model(x)``,
  nothing kept;
- **fwd only**: the same crops decoded beforehand and held in memory, batches of 32 through
  ``normalise`` + ``model(x)``;
- **decode only**: the DataLoader alone (how fast the images decode, nothing else);
- **scan 1 worker**: the scan with one decoding worker (on a 2-core CPU the default is none; the
  forward pass then gets the other core).
Each is run ``--repeats`` times taking turns; the best run counts. Peak memory: a scan of each
folder in a fresh process, with the default workers and with one: its own peak (VmHWM), and that
plus each decoding worker's (and their forkserver's) own peak, an upper bound. Ray: the 1,000-image folder through
``scan_on_ray`` on a local Ray, against the local scan, when Ray and ``core/scan/cluster.py``
are there.

    python benchmarks/scan.py [--quick] [--models mobilenet_v2,demo_shapes] [--repeats 3]
                              [--memory-model demo_shapes]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

BATCH = 32
TARGET_SPEED = 0.8
TARGET_MEMORY = 0.10
SIZE = (400, 300)  # ImageNet's typical photo is about 500x375
CLASSES = 10
LAYERS = {"mobilenet_v2": ("features.10", "features.18"),
          "demo_shapes": ("features.block2.relu", "features.block4.conv2")}
WEIGHTS = {"demo_shapes": "pretrained"}  # the others: random (speed does not depend on the values)


# --- the images -----------------------------------------------------------------------------

def _photo(job: tuple[str, int]) -> None:
    """One photo-like JPEG: a gradient between two random colours, a few shapes drawn at a quarter
    of the size and scaled up (soft edges, cheaply), then sensor-like noise."""
    from PIL import Image, ImageDraw

    path, seed = job
    rng = np.random.default_rng(seed)
    w, h = SIZE
    sw, sh = w // 4, h // 4
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    t = np.add.outer(np.linspace(0, 1, sh, dtype=np.float32),
                     np.linspace(0, rng.uniform(0.2, 1.0), sw, dtype=np.float32)) / 2
    img = Image.fromarray((a + t[..., None] * (b - a)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 8)):
        x0, y0 = rng.integers(0, sw - 5), rng.integers(0, sh - 5)
        box = [x0, y0, x0 + rng.integers(5, sw // 2), y0 + rng.integers(5, sh // 2)]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    pixels = np.asarray(img.resize((w, h), Image.BICUBIC), np.int16)
    pixels += rng.integers(-8, 9, (h, w, 3), dtype=np.int16)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)


def write_photos(folder: Path, count: int) -> float:
    """``count`` photos in ``folder/class_N/``, written by one process per core; seconds taken."""
    start = time.perf_counter()
    jobs = []
    for i in range(count):
        sub = folder / f"class_{i % CLASSES}"
        sub.mkdir(parents=True, exist_ok=True)
        jobs.append((str(sub / f"img_{i:06d}.jpg"), i))
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        pool.map(_photo, jobs, chunksize=64)
    return time.perf_counter() - start


def first_n(source: Path, target: Path, count: int) -> Path:
    """A folder holding the first ``count`` images of ``source`` (hard links: no copy)."""
    if target.exists():
        return target
    for path in sorted(source.rglob("*.jpg"))[:count]:
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, dest)
    return target


# --- throughput -----------------------------------------------------------------------------

CPU = torch.device("cpu")


def _workers() -> int:
    from cnnscope.core.scan.run import default_workers

    return default_workers(CPU)


def _loader(loaded, folder: Path, workers: int | None = None):
    """The scan's own DataLoader over every image of ``folder``, with its default decoding
    workers (see core/scan/run.py)."""
    from cnnscope.core.scan.folder import list_images
    from cnnscope.core.scan.run import _collate, _Images

    entries = list_images(folder)
    workers = _workers() if workers is None else workers
    return torch.utils.data.DataLoader(
        _Images(folder, entries, list(range(len(entries))), loaded.spec.preprocessing), batch_size=BATCH,
        shuffle=False, num_workers=workers, collate_fn=_collate,
        multiprocessing_context=("forkserver" if os.name == "posix" else "spawn") if workers else None)


class Clock:
    """When each batch finished: a whole run's images/s, and its steady pace after the first batch
    (the DataLoader's workers start, oneDNN's first call, the scan's plan all fall before it)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, int]] = []

    def batch(self, done: int) -> None:
        """A batch finished; ``done`` images so far."""
        self.marks.append((time.perf_counter(), done))

    def result(self) -> dict:
        """Whole-run and steady images/s, and seconds to the end of the first batch."""
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        steady = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
        return {"whole": n1 / (t1 - self.start), "steady": steady, "first": t0 - self.start}


def time_scan(loaded, folder: Path, scratch: Path, workers: int | None = None) -> dict:
    """A whole scan of ``folder`` into a new output folder."""
    from cnnscope.core.scan import ScanOptions, scan_folder

    out = Path(tempfile.mkdtemp(dir=scratch))
    clock = Clock()
    summary = scan_folder(loaded, folder, out / "scan",
                          ScanOptions(LAYERS[loaded.name], batch_size=BATCH, workers=workers),
                          CPU, progress=lambda p: clock.batch(p.done))
    clock.batch(clock.marks[-1][1])  # the end of the call: predictions.csv written
    assert summary.complete and not summary.skipped, summary
    return clock.result()


def time_loader_forward(loaded, folder: Path) -> dict:
    """The same DataLoader feeding a bare forward (with the scan's forward threads), nothing kept."""
    from cnnscope.core.scan.run import forward_threads

    clock, done = Clock(), 0
    threads = torch.get_num_threads()
    torch.set_num_threads(forward_threads(CPU, _workers()))
    try:
        with torch.no_grad():
            for indices, crops, _bad in _loader(loaded, folder):
                loaded.module(loaded.spec.preprocessing.normalise(crops))
                done += len(indices)
                clock.batch(done)
    finally:
        torch.set_num_threads(threads)
    return clock.result()


def time_decode(loaded, folder: Path) -> dict:
    """The DataLoader alone (in this process when the scan uses no workers, with torch's threads)."""
    clock, done = Clock(), 0
    for indices, _crops, _bad in _loader(loaded, folder):
        done += len(indices)
        clock.batch(done)
    return clock.result()


def decoded(loaded, folder: Path) -> torch.Tensor:
    """Every crop of ``folder``, decoded once, (N, 3, S, S) uint8."""
    return torch.cat([crops for _i, crops, _b in _loader(loaded, folder)])


def time_forward(loaded, crops: torch.Tensor) -> dict:
    """Batches of the crops in memory through normalise + forward."""
    clock = Clock()
    with torch.no_grad():
        for i in range(0, len(crops), BATCH):
            loaded.module(loaded.spec.preprocessing.normalise(crops[i:i + BATCH]))
            clock.batch(min(i + BATCH, len(crops)))
    return clock.result()


def throughput(name: str, folder: Path, scratch: Path, repeats: int) -> dict:
    """Per way over ``folder``: its best run (the highest whole-run images/s)."""
    from cnnscope.core.weights import load_model

    loaded = load_model(name, WEIGHTS.get(name, "random"))
    loaded.module.eval()
    crops = decoded(loaded, folder)
    time_forward(loaded, crops[:2 * BATCH])  # warm-up: oneDNN's first calls, and the scan's
    time_scan(loaded, first_n(folder, scratch / f"warm-up-{name}", 2 * BATCH), scratch)
    ways = {"scan": lambda: time_scan(loaded, folder, scratch),
            "scan 1 worker": lambda: time_scan(loaded, folder, scratch, workers=1),
            "loader+fwd": lambda: time_loader_forward(loaded, folder),
            "fwd only": lambda: time_forward(loaded, crops),
            "decode only": lambda: time_decode(loaded, folder)}
    best: dict[str, dict] = {}
    for repeat in range(repeats):
        order = list(ways) if repeat % 2 == 0 else list(reversed(ways))  # a slow spell hits all alike
        for way in order:
            got = ways[way]()
            if way not in best or got["whole"] > best[way]["whole"]:
                best[way] = got
    return {"images": len(crops), **best}


# --- memory ---------------------------------------------------------------------------------

def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [root], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        found += kids
        todo += kids
    return found


def _kib(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def child_scan(name: str, folder: str, out: str, workers: str) -> None:
    """Run in a fresh process: one scan, then the peaks as JSON on the last line: this process's
    (VmHWM) and the sum of those below it (the decoding workers and their forkserver: each one's
    VmHWM, read every 0.2 s while it runs; their torch libraries are counted in each)."""
    from cnnscope.core.scan import ScanOptions, scan_folder
    from cnnscope.core.weights import load_model

    seen: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for pid in _tree(os.getpid())[1:]:
                seen[pid] = max(seen.get(pid, 0), _kib(f"/proc/{pid}/status", "VmHWM:"))

    loaded = load_model(name, WEIGHTS.get(name, "random"))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    options = ScanOptions(LAYERS[name], batch_size=BATCH, workers=None if workers == "default" else int(workers))
    summary = scan_folder(loaded, folder, out, options, CPU)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    print(json.dumps({"images": summary.scanned, "seconds": seconds, "main_kib": _kib("/proc/self/status", "VmHWM:"),
                      "below_kib": sum(seen.values()), "processes": len(seen)}))


def memory(name: str, folder: Path, scratch: Path, workers: str) -> dict:
    """A scan of ``folder`` in a fresh process: its peaks."""
    out = Path(tempfile.mkdtemp(dir=scratch)) / "scan"
    done = subprocess.run([sys.executable, __file__, "--child-scan", name, str(folder), str(out), workers],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Ray --------------------------------------------------------------------------------------

def ray_row(name: str, folder: Path, scratch: Path) -> str:
    """The Ray scan of ``folder`` against the local one, or why it was not run."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray: not run (Ray is not installed here: pip install 'cnnscope[cluster]')"
    try:
        from cnnscope.core.scan.cluster import scan_on_ray
    except ImportError as exc:
        return f"ray: not run (cnnscope.core.scan.cluster is not importable: {exc})"
    from cnnscope.core.scan import ScanOptions
    from cnnscope.core.weights import load_model

    weights = WEIGHTS.get(name, "random")
    loaded = load_model(name, weights)
    local = time_scan(loaded, folder, scratch)["whole"]
    out = Path(tempfile.mkdtemp(dir=scratch)) / "scan"
    start = time.perf_counter()
    summary = scan_on_ray(loaded, folder, out, ScanOptions(LAYERS[name], batch_size=BATCH, model_ref=name,
                                                           weights_ref=weights), None, name, weights)
    pace = summary.scanned / (time.perf_counter() - start)
    return (f"ray ({name}, {summary.scanned} images, a local Ray on this machine, its start included): "
            f"{pace:.1f} img/s vs the local scan's {local:.1f} img/s = {pace / local:.2f}x")


# --- the tables -----------------------------------------------------------------------------

def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small folders: 160 / 400 / 2,000 images")
    parser.add_argument("--models", default="mobilenet_v2,demo_shapes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-model", default="demo_shapes",
                        help="the model of the memory runs (MobileNetV2: about 4 min more on a 2-core CPU)")
    parser.add_argument("--child-scan", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        child_scan(*args.child_scan)
        return
    small, large = (400, 2000) if args.quick else (1000, 10000)
    # the slow model's throughput on fewer images: its forward dominates from the first batch
    per_model = {"mobilenet_v2": 160 if args.quick else 512}
    from cnnscope.core.scan.run import forward_threads

    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"the scan's default: {_workers()} decoding worker(s), {forward_threads(CPU, _workers())} forward "
          f"thread(s); batch {BATCH}; "
          f"{SIZE[0]}x{SIZE[1]} JPEGs")
    with tempfile.TemporaryDirectory(prefix="cnnscope-scan-bench-") as tmp:
        scratch = Path(tmp)
        seconds = write_photos(scratch / f"photos_{large}", large)
        size = sum(p.stat().st_size for p in (scratch / f"photos_{large}").rglob("*.jpg"))
        print(f"wrote {large:,} JPEGs ({size / large / 1024:.0f} KiB each) in {seconds:.1f} s")
        big = scratch / f"photos_{large}"
        folders = {small: first_n(big, scratch / f"photos_{small}", small), large: big}

        print()
        print("img/s: whole run / steady (after the first batch); 'start s': seconds to the end of the first batch")
        widths = (13, 6, 13, 13, 13, 13, 13, 17, 15, 17)
        print("| " + " | ".join(f"{h:<{w}}" if h == "model" else f"{h:>{w}}" for h, w in zip(
            ("model", "images", "scan", "loader+fwd", "fwd only", "decode only", "scan 1 worker", "scan / loader+fwd",
             "scan / fwd only", "start s scan, ldr"), widths)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for name in args.models.split(","):
            count = min(per_model.get(name, small), small)
            folder = first_n(big, scratch / f"photos_{count}", count)
            row = throughput(name, folder, scratch, args.repeats)
            scan, loader, forward = row["scan"], row["loader+fwd"], row["fwd only"]
            whole, steady = scan["whole"] / loader["whole"], scan["steady"] / loader["steady"]
            verdict = "ok" if min(whole, steady) >= TARGET_SPEED else "LOW"
            cells = [name, str(row["images"])]
            cells += [f"{row[w]['whole']:.1f} / {row[w]['steady']:.1f}"
                      for w in ("scan", "loader+fwd", "fwd only", "decode only", "scan 1 worker")]
            cells += [f"{whole:.2f} / {steady:.2f} {verdict}",
                      f"{scan['whole'] / forward['whole']:.2f} / {scan['steady'] / forward['steady']:.2f}",
                      f"{scan['first']:.1f}, {loader['first']:.1f}"]
            print("| " + " | ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                                    for i, (c, w) in enumerate(zip(cells, widths))) + " |", flush=True)

        print()
        print(f"peak memory, {args.memory_model}, each scan in a fresh process (MiB; 'below': its workers "
              "and their forkserver, each one's peak, summed):")
        widths = (16, 6, 6, 9, 9, 9)
        print("| " + " | ".join(f"{h:>{w}}" for h, w in zip(
            ("workers", "images", "scan s", "main", "below", "all"), widths)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        verdicts = []
        for workers in ("default", "1"):
            label = f"default ({_workers()})" if workers == "default" else workers
            if workers != "default" and int(workers) == _workers():
                continue
            peaks = {}
            for count in (small, large):
                p = peaks[count] = memory(args.memory_model, folders[count], scratch, workers)
                p["all_kib"] = p["main_kib"] + p["below_kib"]
                cells = (label, str(p["images"]), f"{p['seconds']:.1f}", f"{p['main_kib'] / 1024:.0f}",
                         f"{p['below_kib'] / 1024:.0f}", f"{p['all_kib'] / 1024:.0f}")
                print("| " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, widths)) + " |", flush=True)
            for key, what in (("main_kib", "main"), ("all_kib", "all")):
                ratio = peaks[large][key] / peaks[small][key]
                verdict = "ok" if abs(ratio - 1) <= TARGET_MEMORY else "OVER"
                verdicts.append(f"workers {label}, {what}: {large:,} / {small:,} images = {ratio:.3f} {verdict}")
        print("\n".join(verdicts))

        print()
        print(ray_row(args.models.split(",")[-1], folders[small], scratch))


if __name__ == "__main__":
    main()
