import numpy as np
import pytest

from shared.recsys import vocabulary
from shared.recsys.vocabulary import Vocabulary

IDS = [193609, 7, 1, 50, 7, 3]
ASKED = np.array([50, 2, 1, -5, 193609, 193610, 10**15, 7, 2**63 - 1, -2**63])
EXPECTED = [3, -1, 0, -1, 4, -1, -1, 2, -1, -1]


@pytest.mark.parametrize("table", [True, False])
def test_ids_map_to_their_rank_and_unknown_ids_to_minus_one(monkeypatch, table):
    if not table:
        monkeypatch.setattr(vocabulary, "TABLE_MAX_ID", 0)
    vocab = Vocabulary(IDS)
    assert (vocab._table is not None) is table
    assert vocab.ids.tolist() == [1, 3, 7, 50, 193609] and len(vocab) == 5
    assert vocab.index(ASKED, missing="negative").tolist() == EXPECTED
    assert vocab.index([7, 1]).tolist() == [2, 0]
    with pytest.raises(KeyError, match="2"):
        vocab.index([1, 2])
    assert 50 in vocab and 51 not in vocab and -1 not in vocab
    assert vocab.id_of([0, 4]).tolist() == [1, 193609]


def test_ids_beyond_the_table_bound_are_searched():
    vocab = Vocabulary([5, 2**40])
    assert vocab._table is None
    assert vocab.index([2**40, 5, 6], missing="negative").tolist() == [1, 0, -1]


def test_an_empty_vocabulary_knows_nothing():
    vocab = Vocabulary([])
    assert len(vocab) == 0 and vocab.index([1], missing="negative").tolist() == [-1]


def test_id_zero_is_an_id_like_any_other():
    vocab = Vocabulary([0, 4])
    assert vocab.index([0, 4, -1, 5, 1], missing="negative").tolist() == [0, 1, -1, -1, -1]
