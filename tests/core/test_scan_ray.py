"""Dataset scans on Ray (a local Ray instance here): the same result as the local scan, a scan
stopped after a batch continued on Ray."""

from __future__ import annotations

import numpy as np
import pytest

from cnnscope.core.scan import ScanOptions, open_scan, scan_folder

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
# Ray Data's own context warns of its own deprecated settings whenever it is read (Ray 2.60)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")

LAYERS = ("features.block2.relu", "features.block4.conv2")
OPTIONS = ScanOptions(LAYERS, top_k=3, batch_size=3, workers=0, cam="gradcam", model_ref="demo_shapes",
                      weights_ref="pretrained")


@pytest.fixture(scope="module")
def local_ray():
    """One small Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_a_scan_stopped_after_a_batch_continues_on_ray_to_the_local_scans_result(local_ray, demo_model, folder,
                                                                                 tmp_path):
    """One Ray run (each one starts its actors: seconds here): a scan stopped after its first batch
    is continued on Ray, by two actors, and ends where an uninterrupted local scan ends."""
    from cnnscope.core.scan.cluster import scan_on_ray

    local = scan_folder(demo_model, folder, tmp_path / "local", OPTIONS)
    seen = []
    stopped = scan_folder(demo_model, folder, tmp_path / "ray", OPTIONS, progress=seen.append,
                          should_cancel=lambda: bool(seen))
    partial = open_scan(tmp_path / "ray")
    done = int((partial.state.status != 0).sum())
    assert not stopped.complete and len(seen) == 1 and 0 < done == seen[0].done < local.total
    assert not (tmp_path / "ray" / "predictions.csv").exists()

    summary = scan_on_ray(demo_model, folder, tmp_path / "ray", OPTIONS, None, "demo_shapes", "pretrained",
                          max_actors=2)
    assert summary.complete and summary.resumed_from == done
    assert (summary.total, summary.scanned, summary.skipped) == (local.total, local.scanned, local.skipped)
    whole, resumed = open_scan(tmp_path / "local"), open_scan(tmp_path / "ray")
    np.testing.assert_array_equal(resumed.state.status, whole.state.status)
    assert resumed.state.skipped == whole.state.skipped
    for layer in LAYERS:  # the merge is exact: the same images and places, the values to float noise
        np.testing.assert_array_equal(resumed.topk(layer).images, whole.topk(layer).images)
        np.testing.assert_array_equal(resumed.topk(layer).positions, whole.topk(layer).positions)
        np.testing.assert_allclose(resumed.topk(layer).values, whole.topk(layer).values, rtol=1e-5, atol=1e-6)
    scanned = whole.scanned
    np.testing.assert_allclose(resumed.features[scanned], whole.features[scanned], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resumed.top5[scanned], whole.top5[scanned])
    np.testing.assert_allclose(resumed.top5_probabilities[scanned], whole.top5_probabilities[scanned], atol=1e-6)
    assert (tmp_path / "ray" / "predictions.csv").read_text() == (tmp_path / "local" / "predictions.csv").read_text()
    # --cam: a heatmap per scanned image, written by the driver from the actors' PNGs
    names = sorted(p.name for p in (tmp_path / "local" / "heatmaps").iterdir())
    assert len(names) == local.scanned
    assert names == sorted(p.name for p in (tmp_path / "ray" / "heatmaps").iterdir())


def test_a_missing_ray_or_cluster_is_one_sentence(monkeypatch, demo_model, folder, tmp_path):
    import builtins

    from cnnscope.core.errors import ScanError
    from cnnscope.core.scan import cluster

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ScanError, match=r"needs Ray Data: pip install 'cnnscope\[cluster\]'"):
        cluster.scan_on_ray(demo_model, folder, tmp_path / "x", OPTIONS)


def test_the_pool_is_one_actor_per_gpu_else_cpu_workers_filling_the_nodes():
    from cnnscope.core.errors import ScanError
    from cnnscope.core.scan.cluster import _pool

    class Cluster:
        def __init__(self, *nodes):
            self.listed = [{"Alive": True, "Resources": resources} for resources in nodes]
            self.listed.append({"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}})  # a node gone

        def nodes(self):
            return self.listed

    assert _pool(Cluster({"CPU": 2.0})) == (2, {"num_cpus": 1}, 1)
    assert _pool(Cluster({"CPU": 16.0}, {"CPU": 8.0})) == (12, {"num_cpus": 2}, 2)
    assert _pool(Cluster({"CPU": 32.0, "GPU": 4.0}, {"CPU": 8.0})) == (4, {"num_gpus": 1, "num_cpus": 1}, 8)
    assert _pool(Cluster({"CPU": 0.0, "GPU": 1.0})) == (1, {"num_gpus": 1, "num_cpus": 0}, 1)
    with pytest.raises(ScanError, match="no CPU or GPU"):
        _pool(Cluster({"CPU": 0.0}))
