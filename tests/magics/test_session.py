import gc

from sklearn.base import clone

from deploykit.ui.session import EvaluationMemory, Session


def test_evaluations_are_remembered_by_identity_not_by_value(cancer):
    memory = EvaluationMemory()
    model = cancer["model"]
    twin = clone(model).fit(cancer["X_train"], cancer["y_train"])  # equal, not the same
    entry = memory.remember(model, "report", name="churn", X=None, y=None)
    assert memory.recall(model) is entry
    assert memory.recall(twin) is None
    assert entry.still_matches(model)


def test_a_refit_is_noticed(cancer):
    memory = EvaluationMemory()
    model = clone(cancer["model"]).fit(cancer["X_train"], cancer["y_train"])
    memory.remember(model, "report", name=None, X=None, y=None)
    weaker = model.get_params()["logisticregression__C"] / 100
    model.set_params(logisticregression__C=weaker).fit(cancer["X_train"], cancer["y_train"])
    assert not memory.recall(model).still_matches(model)


def test_a_collected_model_takes_its_entry_with_it(cancer):
    memory = EvaluationMemory()
    model = clone(cancer["model"]).fit(cancer["X_train"], cancer["y_train"])
    memory.remember(model, "report", name=None, X=None, y=None)
    assert len(memory) == 1
    del model
    gc.collect()
    assert len(memory) == 0


def test_the_session_follows_the_settings(deploykit_home):
    session = Session()
    assert session.embedded
    assert str(deploykit_home) in session.target().location
    assert session.backend.models() == []
    session.close()
