from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasklab.core.config import ConfigError, DataConfig
from tasklab.data import DataError, load_dataset
from tasklab.data.tabular import OTHER, TabularEncoder, infer_column_kinds


def write_csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def mixed_table(rows=60, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(1),
            "city": rng.choice(["paris", "rome", "oslo"], rows),
            "rooms": rng.integers(1, 5, rows),
            "member": rng.choice(["yes", "no"], rows),
            "flag": rng.integers(0, 2, rows),
        }
    )
    frame.loc[[3, 7], "age"] = np.nan
    frame.loc[[5], "city"] = np.nan
    frame["label"] = np.where(frame["city"] == "paris", "buy", "skip")
    return frame


def load_csv(path, problem="classification", **options):
    return load_dataset(DataConfig(uri=f"csv:{path}", target="label", **options), 0, problem)


def test_csv_kinds_are_inferred_and_reported(tmp_path):
    path = tmp_path / "t.csv"
    mixed_table().to_csv(path, index=False)
    dataset = load_csv(path)
    kinds = {c.name: c.kind for c in dataset.spec.schema.columns}
    assert kinds == {
        "age": "numeric",
        "city": "categorical",
        "rooms": "categorical",  # Integers with few values.
        "member": "boolean",
        "flag": "boolean",
    }
    assert dataset.notes[0].startswith(
        "Column kinds (5 inputs): numeric: age; categorical: city, rooms"
    )
    assert dataset.spec.class_names == ("buy", "skip")


def test_encoder_is_fitted_on_the_train_split_only():
    frame = mixed_table()
    kinds = infer_column_kinds(frame.drop(columns="label"), {})
    train, test = frame.iloc[:40], frame.iloc[40:]
    encoder = TabularEncoder(kinds).fit(train.drop(columns="label"))
    age = next(c for c in encoder.columns_ if c.name == "age")
    assert age.fill_value == pytest.approx(train["age"].median())
    assert age.indicator  # Rows 3 and 7 (train) are missing.
    city = next(c for c in encoder.columns_ if c.name == "city")
    assert city.categories == ("<missing>", "oslo", "paris", "rome")

    features, notes = encoder.features(test.drop(columns="label"))
    names = encoder.feature_names()
    assert features.shape == (20, len(names)) and features.dtype == np.float32
    assert names[:2] == ["age", "age__missing"]
    one_hot = features[:, [i for i, n in enumerate(names) if n.startswith("city=")]]
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    assert notes == []


def test_missing_values_are_imputed_with_an_indicator_and_their_own_category():
    frame = mixed_table()
    inputs = frame.drop(columns="label")
    encoder = TabularEncoder(infer_column_kinds(inputs, {})).fit(inputs)
    features, _ = encoder.features(inputs.iloc[[3, 5]])
    names = encoder.feature_names()
    assert features[0, names.index("age")] == pytest.approx(inputs["age"].median())
    assert features[0, names.index("age__missing")] == 1.0
    assert features[1, names.index("city=<missing>")] == 1.0


def test_unseen_category_goes_to_other_and_is_counted():
    inputs = mixed_table().drop(columns="label")
    encoder = TabularEncoder(infer_column_kinds(inputs, {})).fit(inputs)
    unseen = inputs.iloc[:3].assign(city=["lima", "paris", "lima"])
    features, notes = encoder.features(unseen)
    names = encoder.feature_names()
    np.testing.assert_array_equal(features[:, names.index(f"city={OTHER}")], [1.0, 0.0, 1.0])
    assert notes == [
        f"Column 'city': 2 value(s) not among the train categories were encoded as {OTHER}."
    ]
    typed = encoder.typed_frame(unseen)
    assert typed["city"].isna().tolist() == [True, False, True]
    assert isinstance(typed["city"].dtype, pd.CategoricalDtype)


def test_infinite_features_are_missing_with_a_count(tmp_path):
    frame = mixed_table()
    frame.loc[10:13, "age"] = np.inf
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    dataset = load_csv(path)
    infinite_notes = [n for n in dataset.notes if "infinite" in n]
    assert infinite_notes and sum(int(n.split(": ")[2].split()[0]) for n in infinite_notes) == 4


def test_column_kind_override(tmp_path):
    path = tmp_path / "t.csv"
    mixed_table().to_csv(path, index=False)
    dataset = load_csv(path, columns={"rooms": "numeric"})
    rooms = next(c for c in dataset.spec.schema.columns if c.name == "rooms")
    assert (rooms.kind, rooms.inferred) == ("numeric", False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("a,b,label\n", "header but no data rows"),
        ("a,a,label\n1,2,x\n", r"duplicate column names \['a'\]"),
        ("a,b,label\n1,2,x\n1,2\n", "Line 3 .* has 2 fields but the header has 3"),
        ("a,b,label\n1,2,x\n1,2,y,9\n", "Line 3 .* has 4 fields"),
        # A comment line above the header (matplotlib's sample Stocks.csv starts so).
        (
            "# Data source: somewhere\na,b,label\n1,2,x\n",
            r"Line 2 .* has 3 fields but the header has 1.*\('# Data source: somewhere'\) looks "
            "like a comment, not a header row",
        ),
        (
            "a,b,lable\n1,2,x\n",
            r"target column 'label' is not in csv:.*data.csv. Its columns: a, b, lable\.",
        ),
        ("a,b,label\n1,2,x\n3,4,x\n", "single class"),
        ("a,b,label\n1,2,x\n3,4,\n5,6,y\n", r"1 missing value\(s\) \(CSV line 3\)"),
    ],
)
def test_bad_csv_files(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        load_csv(write_csv(tmp_path, text))


def test_text_in_a_numeric_column_names_the_rows(tmp_path):
    frame = mixed_table()
    frame["age"] = frame["age"].astype(object)
    frame.loc[4, "age"] = "forty"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'age' looks numeric.*line 6: 'forty'.*categorical"):
        load_csv(path)


def test_target_problems(tmp_path):
    path = tmp_path / "t.csv"
    frame = mixed_table()
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="must be numeric for regression"):
        load_csv(path, problem="regression")
    frame.assign(label=np.linspace(0, 1, len(frame))).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"continuous numbers.*tabular_regression"):
        load_csv(path)
    frame.assign(label=np.r_[np.inf, np.ones(len(frame) - 1)]).to_csv(path, index=False)
    with pytest.raises(DataError, match="infinite values"):
        load_csv(path, problem="regression")
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"set data.target"):
        load_dataset(DataConfig(uri=f"csv:{path}"), 0)
    with pytest.raises(DataError, match=r"data.columns names \['agee'\].*Did you mean 'age'"):
        load_csv(path, columns={"agee": "numeric"})
    with pytest.raises(DataError, match="does not exist"):
        load_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("name", "classes", "features"),
    [
        ("breast_cancer", ("malignant", "benign"), 30),
        ("wine", ("class_0", "class_1", "class_2"), 13),
        ("iris", ("setosa", "versicolor", "virginica"), 4),
    ],
)
def test_sklearn_classification_tables(name, classes, features):
    dataset = load_dataset(DataConfig(uri=f"builtin:{name}"), 0)
    assert dataset.spec.class_names == classes and dataset.spec.example_shape == (features,)
    assert dataset.train.frame.shape[1] == features
    assert len(dataset.train.frame) == len(dataset.train)
    x, y = next(dataset.test.make_dataset().as_numpy_iterator())
    assert x.shape == (features,) and y == dataset.test.labels[0]


def test_diabetes_regression_targets_and_problem_mismatch():
    dataset = load_dataset(DataConfig(uri="builtin:diabetes"), 0, "regression")
    assert dataset.spec.class_names == () and dataset.train.labels.dtype == np.float32
    schema = dataset.spec.schema
    assert schema.target_mean == pytest.approx(dataset.train.labels.mean(), rel=1e-5)
    with pytest.raises(ConfigError, match="regression dataset, but the task does classification"):
        load_dataset(DataConfig(uri="builtin:diabetes"), 0)


def test_a_column_that_identifies_rows_is_kept_and_noted(tmp_path):
    rows = [f"2003-09-{day:02d},{day % 3},{'ab'[day % 2]}" for day in range(1, 31)]
    dataset = load_csv(write_csv(tmp_path, "date,x,label\n" + "\n".join(rows) + "\n"))
    notes = [note for note in dataset.notes if "identifies rows" in note]
    assert notes == [
        "Column 'date' has a distinct value in 30 of its 30 rows: it identifies rows rather than "
        "describing them, so held-out rows bring values never seen in training. Remove the "
        "column from the file if it is an identifier or a date."
    ]
    assert any(column.name == "date" for column in dataset.spec.schema.columns)
    # Its unseen-value indicator is 0 on every training row: normalized with variance 1, not
    # divided by epsilon, so a held-out row stays on the scale of the training rows.
    schema = dataset.spec.schema
    train = np.stack([x for x, _ in dataset.train.make_dataset().as_numpy_iterator()])
    constant = train.std(axis=0) == 0
    assert constant.any()
    np.testing.assert_allclose(np.asarray(schema.feature_variance)[constant], 1.0)
    np.testing.assert_allclose(
        np.asarray(schema.feature_variance)[~constant], train.var(axis=0)[~constant], rtol=1e-5
    )
    test = np.stack([x for x, _ in dataset.test.make_dataset().as_numpy_iterator()])
    standardized = (test - schema.feature_mean) / np.sqrt(schema.feature_variance)
    assert np.abs(standardized).max() < 100
