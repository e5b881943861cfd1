"""``ulrp data download`` against a local HTTP server on 127.0.0.1 serving tiny archives built here."""

from __future__ import annotations

import functools
import hashlib
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from unrolled_lrp.cli.main import main
from unrolled_lrp.data import DatasetError, check_dataset, find_voc, load_voc, read_ids, read_mask
from unrolled_lrp.data.download import SBD_ARCHIVE, VOC2012_ARCHIVE, Archive, add_sbd, download_voc


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 and its base URL."""
    folder = tmp_path_factory.mktemp("served")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def voc_archive(served: tuple[Path, str], synth_root: Path) -> Archive:
    """The synthetic VOC tree as a tar named like the real VOC 2012 archive."""
    folder, url = served
    path = folder / VOC2012_ARCHIVE.filename
    with tarfile.open(path, "w") as tar:
        tar.add(synth_root / "VOCdevkit", arcname="VOCdevkit")
    return Archive(f"{url}/{path.name}", _md5(path), path.name)


def _sbd_mask(image: Path) -> np.ndarray:
    """A class-index mask of the image's size: classes 3 and 5 in two corners."""
    with Image.open(image) as photo:
        mask = np.zeros((photo.height, photo.width), dtype=np.uint8)
    mask[:8, :8], mask[-8:, -8:] = 3, 5
    return mask


@pytest.fixture(scope="module")
def sbd_archive(served: tuple[Path, str], synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """An SBD-like benchmark.tgz: a .mat mask for one VOC train, one image-level and one VOC val image."""
    folder = served[0]
    release = tmp_path_factory.mktemp("sbd") / "benchmark_RELEASE" / "dataset"
    ids = _sbd_ids(synth_root)
    for name in ("cls", "img", "inst"):
        (release / name).mkdir(parents=True)
    for image_id in ids.values():
        mask = _sbd_mask(find_voc(synth_root).image(image_id))
        scipy.io.savemat(release / "cls" / f"{image_id}.mat", {"GTcls": {"Segmentation": mask}})
    (release / "train.txt").write_text(f"{ids['train']}\n{ids['image_level']}\n")
    (release / "val.txt").write_text(f"{ids['val']}\n")
    path = folder / SBD_ARCHIVE.filename
    with tarfile.open(path, "w:gz") as tar:
        tar.add(release.parent, arcname="benchmark_RELEASE")
    return Archive(f"{served[1]}/{path.name}", _md5(path), path.name)


def _sbd_ids(synth_root: Path) -> dict[str, str]:
    pools = load_voc(synth_root)
    return {"train": pools.pixel[0].id, "image_level": pools.image_level[0].id, "val": pools.val[0].id}


def _summary(root: Path) -> list[tuple[str, frozenset[int], bool]]:
    pools = load_voc(root)
    return [(i.id, i.labels, i.mask is not None) for pool in (pools.pixel, pools.image_level, pools.val) for i in pool]


def test_voc_download_unpacks_a_checked_dataset(voc_archive: Archive, synth_root: Path, tmp_path: Path):
    layout = download_voc(tmp_path, voc_archive)
    assert layout.root == tmp_path / "VOCdevkit" / "VOC2012" and check_dataset(tmp_path) == []
    assert _summary(tmp_path) == _summary(synth_root)
    assert not (tmp_path / voc_archive.filename).exists()  # the archive is removed after unpacking


def test_wrong_checksum_is_one_error_and_leaves_nothing(voc_archive: Archive, tmp_path: Path):
    wrong = Archive(voc_archive.url, "0" * 32, voc_archive.filename)
    with pytest.raises(DatasetError, match="MD5 checksum .* is not 0{32}"):
        download_voc(tmp_path, wrong)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_url_is_one_error(served: tuple[Path, str], tmp_path: Path):
    missing = Archive(f"{served[1]}/nothing.tar", "0" * 32, VOC2012_ARCHIVE.filename)
    with pytest.raises(DatasetError, match="download from .*nothing.tar failed"):
        download_voc(tmp_path, missing)
    assert list(tmp_path.iterdir()) == []


def test_sbd_becomes_segmentation_class_aug_without_val_images(
    voc_archive: Archive, sbd_archive: Archive, synth_root: Path, tmp_path: Path
):
    layout = download_voc(tmp_path, voc_archive)
    listed = add_sbd(tmp_path, sbd_archive)
    ids = _sbd_ids(synth_root)
    voc_train = read_ids(layout.segmentation_sets / "train.txt")
    assert read_ids(listed) == sorted({*voc_train, ids["image_level"]})  # VOC val image left out
    expected = _sbd_mask(layout.image(ids["image_level"]))
    assert read_mask(layout.mask(ids["image_level"], aug=True)).numpy().tolist() == expected.tolist()
    own = layout.mask(ids["train"])
    assert layout.mask(ids["train"], aug=True).read_bytes() == own.read_bytes()  # VOC's own mask preferred
    assert check_dataset(tmp_path, use_aug=True) == [] and not (tmp_path / "SBD").exists()
    assert {item.id for item in load_voc(tmp_path, use_aug=True).pixel} == set(read_ids(listed))


def test_cli_download(voc_archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture):
    main(["data", "download", "--root", str(tmp_path), "--voc_url", voc_archive.url, "--voc_md5", voc_archive.md5])
    assert f"VOC 2012 in {tmp_path / 'VOCdevkit' / 'VOC2012'}" in capsys.readouterr().out
    assert check_dataset(tmp_path) == []
