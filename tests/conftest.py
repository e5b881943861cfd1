"""Shared fixtures (a tiny synthetic VOC-layout dataset for the training and command-line tests, one thread) and
the list of slow tests that ``make test-fast`` leaves out."""

from fnmatch import fnmatch

import pytest
import torch

from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc


@pytest.fixture(scope="session")
def tiny_voc(tmp_path_factory):
    """ROOT with VOCdevkit/VOC2012 (8 pixel-labelled, 4 val, 8 image-level images of 32 px) and classes.yaml."""
    root = tmp_path_factory.mktemp("tiny_voc")
    write_synthetic_voc(
        root,
        SynthConfig(
            num_pixel_train=8, num_val=4, num_image_level=8, image_size=32, seed=0, classes=["background", "cat", "dog"]
        ),
    )
    return root


@pytest.fixture
def single_thread():
    """Small tensors on a 2-core machine: intra-op threads cost far more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: Tests marked ``slow`` (``pytest -m "not slow"``, ``make test-fast``, leaves them out; ``make test`` runs them):
#: end-to-end runs (training through the trainer, the command line, grids, torchrun) and full-size networks in
#: float64, each several seconds on a 2-core CPU. Patterns on pytest's node ids, kept in one place so that the files
#: of a test need no change to move it; a fast test of the same property runs in their stead where there is one (the
#: per-family tests in tests/lrp on small nets, the bad-input and config-error tables, the tiny unit tests). Brackets
#: of a parametrised id are escaped as ``[[]``: fnmatch reads ``[...]`` as a character class.
SLOW = (
    "tests/cli/test_reproducible.py::*",
    "tests/cli/test_train_cli.py::test_pretrain_*",
    "tests/cli/test_train_cli.py::test_train_*",
    "tests/cli/test_train_cli.py::test_eval_*",
    "tests/cli/test_train_cli.py::test_resume_continues_*",
    "tests/cli/test_train_cli.py::test_resuming_with_other_settings_*",
    "tests/cli/test_train_cli.py::test_a_*",
    "tests/cli/test_lrp_options.py::test_training_*",
    "tests/cli/test_lrp_options.py::test_a_model_without_heatmaps_*",
    "tests/experiments/test_grid.py::test_every_run_*",
    "tests/experiments/test_grid.py::test_dry_run_*",
    "tests/experiments/test_grid.py::test_a_*",
    "tests/experiments/test_grid.py::test_an_*",
    "tests/experiments/test_grid.py::test_the_report_*",
    "tests/training/test_distributed.py::*",
    "tests/training/test_trainer.py::*",
    "tests/training/test_precision.py::*",
    "tests/training/test_snapshots.py::*",
    "tests/lrp/test_exactness.py::*",
    "tests/lrp/test_gradients.py::test_parameter_gradients_equal_double_backprop*",
    "tests/lrp/test_properties.py::test_torch_compile_*",
    "tests/lrp/test_properties.py::test_tying_survives_*",
    "tests/lrp/test_properties.py::test_batchnorm_statistics_*",
    "tests/lrp/test_properties.py::test_chunked_training_*",
    "tests/lrp/test_properties.py::*[[]vgg11_bn]",
    "tests/lrp/test_mobilenet_v2.py::test_gradient_mode_in_train_mode_*",
    "tests/lrp/test_mobilenet_v2.py::test_ratio_mode_equals_*",
    "tests/lrp/test_mobilenet_v2.py::test_parameter_gradients_*",
    "tests/lrp/test_mobilenet_v2.py::test_ratio_mode_parameter_gradients_*",
    "tests/lrp/test_mobilenet_v2.py::*[[]mobilenet_v2@1.0]",
    "tests/lrp/test_untied.py::test_untied_gradients_*",
    "tests/models/test_imagenet_weights.py::test_unrolled_logits_*",
    "tests/models/*vgg1*",
    "tests/visualisation/test_figures.py::test_the_figures_never_*",
    "tests/visualisation/test_figures.py::test_the_report_keeps_*",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(fnmatch(item.nodeid, pattern) for pattern in SLOW):
            item.add_marker(pytest.mark.slow)
