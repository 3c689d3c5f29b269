import numpy as np
import pytest

from rura.segmentation.metrics import SCORES, Confusion, binary_scores


def test_scores_from_hand_computed_masks():
    truth = np.zeros((1, 4, 4), bool)
    truth[0, :2, :2] = True  # 4 lesion pixels
    pred = np.zeros((1, 4, 4), bool)
    pred[0, :2, :3] = True  # 6 predicted: tp 4, fp 2, fn 0, tn 10
    confusion = Confusion(("ma",))
    confusion.update(pred, truth)
    assert confusion.counts() == {"ma": {"tp": 4, "fp": 2, "fn": 0, "tn": 10}}
    s = confusion.scores()["ma"]
    assert s["iou"] == pytest.approx(4 / 6)
    assert s["dice"] == pytest.approx(8 / 10)
    assert s["precision"] == pytest.approx(4 / 6)
    assert s["recall"] == 1.0
    assert s["pixel_accuracy"] == s["accuracy"] == pytest.approx(14 / 16)
    # two-class: background IoU 10/12, background recall 10/12
    assert s["miou"] == pytest.approx((4 / 6 + 10 / 12) / 2)
    assert s["mpa"] == pytest.approx((1.0 + 10 / 12) / 2)


def test_counts_are_micro_over_the_set():
    confusion = Confusion(("ma", "he"))
    a = np.zeros((2, 2, 2), bool)
    b = a.copy()
    b[0, 0, 0] = True
    confusion.update(b, b)  # image 1: ma perfect
    confusion.update(a, b)  # image 2: ma missed
    assert confusion.counts()["ma"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 6}
    assert confusion.scores()["ma"]["dice"] == pytest.approx(2 / 3)  # not the mean of 1 and 0


def test_empty_masks_never_give_nan():
    both_empty = binary_scores(0, 0, 0, 16)
    assert all(both_empty[k] == 1.0 for k in ("iou", "dice", "precision", "recall"))
    assert both_empty["miou"] == 1.0 and both_empty["accuracy"] == 1.0
    missed = binary_scores(0, 0, 3, 13)  # lesions present, nothing predicted
    assert missed["precision"] == missed["recall"] == missed["dice"] == 0.0
    invented = binary_scores(0, 3, 0, 13)  # nothing present, lesions predicted
    assert invented["recall"] == invented["precision"] == invented["dice"] == 0.0
    all_lesion = binary_scores(16, 0, 0, 0)  # the whole image is lesion, found
    assert all_lesion["miou"] == 1.0 and all_lesion["mpa"] == 1.0
    for scores in (both_empty, missed, invented, all_lesion, binary_scores(0, 0, 0, 0)):
        assert set(scores) == set(SCORES)
        assert all(np.isfinite(v) for v in scores.values())


def test_mean_and_shape_checks():
    confusion = Confusion(("ma", "he"))
    confusion.update(np.ones((2, 3, 3), bool), np.ones((2, 3, 3), bool))
    assert confusion.scores()["mean"]["dice"] == 1.0
    with pytest.raises(ValueError, match="differ"):
        confusion.update(np.ones((2, 3, 3), bool), np.ones((2, 3, 4), bool))
    with pytest.raises(ValueError, match="channels"):
        confusion.update(np.ones((3, 3, 3), bool), np.ones((3, 3, 3), bool))
