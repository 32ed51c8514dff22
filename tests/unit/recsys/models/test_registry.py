import re
from pathlib import Path

import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from shared.recsys.models import registry
from shared.recsys.models.base import RatingPredictor
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.topn import TopNRecommender


def test_the_readme_documents_every_model_name_in_order():
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    models = re.search(r"Models: (.*?)\(what the trainer serves\)", readme, re.S)
    assert models is not None, "README.md no longer lists the models after 'Models: '"
    assert re.findall(r"`([a-z-]+)`", models.group(1)) == registry.available()


def test_available_ends_with_default_and_names_each_model_once():
    names = registry.available()
    assert names[-1] == "default" and names.count("default") == 1
    assert len(set(names)) == len(names)


def test_default_stands_for_a_registered_model():
    assert registry.DEFAULT_MODEL in registry.available()
    assert registry.DEFAULT_MODEL != "default"
    assert registry.resolve("default") == registry.DEFAULT_MODEL
    assert repr(registry.make("default")) == repr(registry.make(registry.DEFAULT_MODEL))


def test_no_two_names_build_the_same_estimator():
    models = [name for name in registry.available() if name != "default"]
    built = {repr(registry.make(name)) for name in models}
    assert len(built) == len(models)


def test_make_returns_a_fresh_unfitted_estimator_each_time():
    first, second = registry.make("baseline"), registry.make("baseline")
    assert isinstance(first, BaselinePredictor)
    assert first is not second
    assert not hasattr(first, "global_mean_")


def test_names_are_case_and_space_insensitive():
    assert registry.resolve(" Baseline ") == "baseline"


def test_unknown_name_is_a_key_error_listing_the_names():
    with pytest.raises(KeyError) as err:
        registry.make("magic")
    message = err.value.args[0]
    assert "'magic'" in message
    for name in registry.available():
        assert name in message


@pytest.mark.parametrize("name", registry.available())
def test_each_name_builds_a_fresh_unfitted_estimator(name):
    model = registry.make(name)
    assert isinstance(model, (RatingPredictor, TopNRecommender))
    assert model is not registry.make(name)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("name", ["most-popular", "ease", "ials"])
def test_the_top_n_models_rank_and_do_not_predict_ratings(name):
    model = registry.make(name)
    assert isinstance(model, TopNRecommender)
    assert model.predicts_ratings is False
    assert not hasattr(model, "predict")
