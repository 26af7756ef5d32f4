import json

import numpy as np
import pytest

from training.quality import metrics as quality
from training.quality import pixel_checks
from training.quality.metrics import (
    density_coverage,
    disjoint_halves,
    distribution_match,
    frechet_distance,
    kid,
    knn_radii,
    precision_recall,
    quality_report,
    real_floor,
)


def normal(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def two_clusters(n: int, d: int, seed: int) -> np.ndarray:
    """Half the rows around the origin, half around (10, 0, ...)."""
    x = normal(n, d, seed)
    x[n // 2 :, 0] += 10.0
    return x


# --- Fréchet distance ----------------------------------------------------------------------


def test_fd_of_identical_sets_is_zero() -> None:
    a = normal(300, 5, 0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_fd_of_a_mean_shift_is_the_squared_shift() -> None:
    a = normal(300, 5, 0)
    m = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(a, a + m) == pytest.approx(float(m @ m), rel=1e-6)


def test_fd_of_a_scaled_copy_matches_the_closed_form() -> None:
    # b = 2a + m: cov_b = 4 cov_a, sqrt(cov_a cov_b) = 2 cov_a, so the trace term is tr(cov_a)
    a = normal(300, 4, 1)
    m = np.array([0.5, 0.0, -1.0, 2.0])
    expected = ((a.mean(0) + m) ** 2).sum() + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a + m) == pytest.approx(expected, rel=1e-5)


def test_fd_of_two_gaussians_approaches_the_population_value() -> None:
    # N(0, I) vs N(m, 4I) in 3-D: |m|² + 3 * (1 - 2)² = 4 + 3
    a = normal(4000, 3, 2)
    b = 2.0 * normal(4000, 3, 3) + np.array([2.0, 0.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(7.0, rel=0.05)


def test_pixel_checks_use_the_one_frechet_distance() -> None:
    assert pixel_checks.frechet_distance is quality.frechet_distance


# --- KID -----------------------------------------------------------------------------------


def brute_force_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² estimator written out term by term."""
    d, m = x.shape[1], len(x)

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return float((u @ v / d + 1.0) ** 3)

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2.0 * xy


def test_kid_matches_the_unbiased_estimator_when_a_subset_is_the_whole_set() -> None:
    a, b = normal(12, 3, 0), normal(12, 3, 1, shift=0.3)
    mean, std = kid(a, b, subsets=5, subset_size=1000)  # capped at 12: every subset is all rows
    assert mean == pytest.approx(brute_force_mmd2(a, b), rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_a_shift() -> None:
    # over seeds the same-distribution mean spreads with sd ~0.008 here; the biased estimator
    # (k(x_i, x_i) terms kept) would sit near +0.1, the shift near +8
    same_mean, same_std = kid(normal(400, 8, 0), normal(400, 8, 1), subset_size=200)
    shifted_mean, _ = kid(normal(400, 8, 0), normal(400, 8, 1, shift=1.0), subset_size=200)
    assert abs(same_mean) < 0.04
    assert same_std > 0  # subsets of 200 out of 400 differ
    assert shifted_mean > 2.0


def test_kid_is_deterministic_for_a_seed() -> None:
    a, b = normal(100, 3, 0), normal(100, 3, 1)
    assert kid(a, b, subset_size=50, seed=3) == kid(a, b, subset_size=50, seed=3)
    assert kid(a, b, subset_size=50, seed=3) != kid(a, b, subset_size=50, seed=4)


# --- k-NN manifold metrics -----------------------------------------------------------------

# 1-D points 0, 1, 3, 7: their 1st-neighbour radii are 1, 1, 2, 4
LINE = np.array([[0.0], [1.0], [3.0], [7.0]])


def test_knn_radii_on_a_line() -> None:
    assert knn_radii(LINE, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(LINE, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(LINE, 4)


def test_precision_recall_density_coverage_by_hand() -> None:
    # fakes 0.5 (balls of 0 and 1), 5 (balls of 3 and 7, on the rim of 3's), 12 (no ball)
    fake = np.array([[0.5], [5.0], [12.0]])
    # the fake radii (k=1) are 4.5, 4.5, 7: every real point is within one
    assert precision_recall(LINE, fake, k=1) == (pytest.approx(2 / 3), 1.0)
    # 4 ball memberships over 3 fakes; every real ball holds its nearest fake
    assert density_coverage(LINE, fake, k=1) == (pytest.approx(4 / 3), 1.0)


def test_same_distribution_has_high_precision_recall_density_coverage() -> None:
    real, fake = normal(400, 3, 0), normal(400, 3, 1)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert precision > 0.85 and recall > 0.85
    assert 0.8 < density < 1.2
    assert coverage > 0.9


def test_mode_collapse_keeps_precision_and_loses_recall_and_coverage() -> None:
    real = two_clusters(400, 3, 0)
    fake = normal(400, 3, 1)  # only the cluster at the origin
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert precision > 0.85
    assert 0.35 < recall < 0.6
    assert density > 0.8
    assert 0.35 < coverage < 0.6


def test_far_off_samples_score_zero() -> None:
    real, fake = normal(300, 3, 0), normal(300, 3, 1, shift=20.0)
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_a_real_outlier_inflates_precision_but_not_density() -> None:
    # one real outlier at x=50 has a huge k-NN ball; fakes near x=30 sit only in that ball
    real = np.vstack([normal(300, 2, 0), [[50.0, 0.0]]])
    fake = normal(100, 2, 1) * 0.5 + np.array([30.0, 0.0])
    precision, _ = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake, k=5)
    assert precision == 1.0
    assert density == pytest.approx(1 / 5)
    assert coverage == pytest.approx(1 / len(real))


# --- label distribution --------------------------------------------------------------------


def test_distribution_match_by_hand() -> None:
    tv, shares = distribution_match(["a", "a", "b", "c"], ["a", "b", "b", "b"])
    # |0.5 - 0.25| + |0.25 - 0.75| + |0.25 - 0| = 1.0, halved
    assert tv == pytest.approx(0.5)
    assert shares == {"a": (0.5, 0.25), "b": (0.25, 0.75), "c": (0.25, 0.0)}


def test_distribution_match_extremes_and_int_labels() -> None:
    assert distribution_match(np.array([0, 1, 1]), np.array([1, 0, 1]))[0] == 0.0
    tv, shares = distribution_match(np.array([0, 0]), np.array([1, 2]))
    assert tv == pytest.approx(1.0)
    assert list(shares) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="at least one label"):
        distribution_match([], ["a"])


# --- floors and the report -----------------------------------------------------------------


def test_disjoint_halves_are_disjoint_sized_and_seeded() -> None:
    a, b = disjoint_halves(101, 40, seed=7)
    assert len(a) == len(b) == 40
    assert not set(a.tolist()) & set(b.tolist())
    again = disjoint_halves(101, 40, seed=7)
    assert a.tolist() == again[0].tolist() and b.tolist() == again[1].tolist()
    assert a.tolist() != disjoint_halves(101, 40, seed=8)[0].tolist()
    assert len(disjoint_halves(101)[0]) == 50
    with pytest.raises(ValueError, match="disjoint halves"):
        disjoint_halves(101, 51)


def test_real_floor_is_the_metric_between_the_two_halves() -> None:
    real = normal(300, 3, 0)
    a, b = disjoint_halves(300, 100, seed=2)
    floor = real_floor(real, frechet_distance, n=100, seed=2)
    assert floor == frechet_distance(real[a], real[b])
    assert floor > 1e-3  # two different samples, not one half against itself


@pytest.mark.parametrize(("n_real", "n_fake", "n"), [(300, 100, 100), (300, 1000, 150)])
def test_report_uses_the_same_count_for_score_and_floor(n_real: int, n_fake: int, n: int) -> None:
    report = quality_report(normal(n_real, 3, 0), normal(n_fake, 3, 1), seed=5)
    assert (report.samples, report.real_total, report.fake_total) == (n, n_real, n_fake)


def test_report_floors_come_from_the_disjoint_halves_and_scores_share_half_a() -> None:
    real, fake = normal(400, 3, 0), normal(200, 3, 1, shift=0.5)  # n = 200: every fake is used
    report = quality_report(real, fake, seed=3)
    a, b = disjoint_halves(400, 200, seed=3)
    assert report.metric("fd").floor == pytest.approx(real_floor(real, frechet_distance, seed=3))
    precision_floor, recall_floor = precision_recall(real[a], real[b])
    assert (report.metric("precision").floor, report.metric("recall").floor) == (
        precision_floor,
        recall_floor,
    )
    # FD and the k-NN metrics do not depend on the order of the fakes
    assert report.metric("fd").value == pytest.approx(frechet_distance(real[a], fake))
    assert report.metric("coverage").value == density_coverage(real[a], fake)[1]


def test_report_is_deterministic_for_a_seed() -> None:
    real, fake = normal(300, 3, 0), normal(300, 3, 1)
    first = quality_report(real, fake, seed=1).to_dict()
    assert first == quality_report(real, fake, seed=1).to_dict()
    other = quality_report(real, fake, seed=2).to_dict()
    assert first["metrics"]["fd"]["floor"] != other["metrics"]["fd"]["floor"]


def test_report_puts_a_good_generator_near_its_floor_and_a_bad_one_far_off() -> None:
    real = two_clusters(400, 3, 0)
    good = quality_report(real, two_clusters(200, 3, 1))
    collapsed = quality_report(real, normal(200, 3, 2))
    fd = good.metric("fd")
    assert fd.value < 3 * fd.floor + 0.1
    assert collapsed.metric("fd").value > 10 * collapsed.metric("fd").floor
    assert collapsed.metric("recall").value < collapsed.metric("recall").floor - 0.3
    assert collapsed.metric("kid").value > good.metric("kid").value + 1.0


def test_report_labels_table_and_json() -> None:
    rng = np.random.default_rng(0)
    real_labels = rng.choice(["cat", "dog"], 300)
    fake_labels = np.array(["cat"] * 150)  # the generator only makes cats
    report = quality_report(
        normal(300, 3, 0), normal(150, 3, 1), real_labels=real_labels, fake_labels=fake_labels
    )
    tv = report.metric("label_tv")
    assert tv.value > 0.3 > tv.floor
    assert report.label_shares is not None and report.label_shares["cat"][1] == 1.0

    names = [row[0] for row in report.rows()]
    assert names == ["fd", "kid", "precision", "recall", "density", "coverage", "label_tv"]
    notes = dict((row[0], row[3]) for row in report.rows())
    assert notes["fd"].startswith("lower is better") and notes["recall"].startswith("higher")
    assert "std" not in notes["kid"]  # 150 < subset size: one subset, the whole, std 0

    data = json.loads(json.dumps(report.to_dict()))
    assert data["samples"] == 150 and data["label_shares"]["cat"][1] == 1.0
    assert data["metrics"]["kid"]["better"] == "lower" and "value_std" in data["metrics"]["kid"]

    assert (
        "label_tv" not in quality_report(normal(300, 3, 0), normal(150, 3, 1)).to_dict()["metrics"]
    )


def test_report_input_errors_are_clear() -> None:
    real, fake = normal(300, 3, 0), normal(150, 3, 1)
    with pytest.raises(ValueError, match="both real_labels and fake_labels"):
        quality_report(real, fake, real_labels=np.zeros(300))
    with pytest.raises(ValueError, match="one entry per feature row"):
        quality_report(real, fake, real_labels=np.zeros(10), fake_labels=np.zeros(150))
    with pytest.raises(ValueError, match="same D"):
        quality_report(real, normal(150, 4, 1))
    with pytest.raises(ValueError, match="at least 12 real"):
        quality_report(real[:10], fake)


def test_label_matches_use_the_rows_of_the_quality_report() -> None:
    rng = np.random.default_rng(5)
    real = {"hair": rng.choice(["afro", "short"], 300), "glasses": rng.choice(["none", "on"], 300)}
    fake = {"hair": np.array(["afro"] * 120), "glasses": rng.choice(["none", "on"], 120)}
    matches = quality.label_matches(real, fake, seed=3)
    half_a, half_b, fake_rows = quality.sample_rows(300, 120, seed=3)
    assert len(half_a) == len(fake_rows) == 120 and not set(half_a) & set(half_b)
    tv, shares = quality.distribution_match(real["hair"][half_a], fake["hair"][fake_rows])
    assert matches["hair"].tv == tv and matches["hair"].shares == shares
    assert matches["hair"].shares["afro"][1] == 1.0  # every generated face has an afro
    assert matches["hair"].tv > 0.3 > matches["hair"].floor
    assert matches["glasses"].to_dict()["tv"] == matches["glasses"].tv
