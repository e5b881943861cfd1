from pathlib import Path

import pytest

from unrolled_lrp.data import VOC, VOC_CLASSES, ClassSet, voc_palette


def test_voc_classes_and_official_palette():
    assert VOC.num_classes == 21 and VOC.names == VOC_CLASSES and VOC.names[0] == "background"
    assert VOC.palette[VOC.index("person")] == (192, 128, 128)
    assert VOC.palette[VOC.index("aeroplane")] == (128, 0, 0)
    assert voc_palette()[255] == (224, 224, 192)  # the devkit's colour for void
    assert len(VOC.png_palette()) == 768


def test_class_set_from_yaml_with_and_without_palette(tmp_path: Path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("classes: [background, cat, dog]\n")
    classes = ClassSet.from_yaml(plain)
    assert classes.names == ("background", "cat", "dog") and classes.num_classes == 3
    assert classes.palette == voc_palette(3) and list(classes.foreground) == [1, 2]
    coloured = tmp_path / "coloured.yaml"
    coloured.write_text("classes: [background, cat]\npalette: [[1, 2, 3], [4, 5, 6]]\n")
    assert ClassSet.from_yaml(coloured).palette == ((1, 2, 3), (4, 5, 6))


@pytest.mark.parametrize(
    "text, message",
    [
        ("names: [background]\n", "'classes' list"),
        ("classes: [cat, background]\n", "'background' must be the first class"),
        ("classes: [cat]\n", "at least two classes"),
        ("classes: [background, cat, cat]\n", "unique"),
        ("classes: [background, cat]\npalette: [[0, 0, 0]]\n", "palette has 1 colours"),
    ],
)
def test_class_config_errors_say_what_to_fix(tmp_path: Path, text: str, message: str):
    path = tmp_path / "classes.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        ClassSet.from_yaml(path)


def test_class_list_without_background_makes_every_class_an_image_label(tmp_path: Path):
    path = tmp_path / "classes.yaml"
    path.write_text("classes: [sky, road, car]\n")
    classes = ClassSet.from_yaml(path)
    assert not classes.has_background and classes.background == frozenset() and list(classes.foreground) == [0, 1, 2]
    assert VOC.has_background and VOC.background == {0} and list(VOC.foreground) == list(range(1, 21))


def test_unknown_class_name_lists_known_ones():
    with pytest.raises(KeyError, match="unicorn.*known classes: background, aeroplane"):
        VOC.index("unicorn")
