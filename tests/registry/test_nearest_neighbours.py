import numpy as np
import pytest
from django.db import connection, transaction

from registry import vector_search
from registry.models import Dataset, Prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompts():
    rng = np.random.default_rng(7)
    dataset = Dataset.objects.create(name="vectors", source_format="bundle", content_hash="x")
    vectors = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=str(i), text=f"p{i}", embedding=v)
                                for i, v in enumerate(vectors)], batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_prompt")
    return vectors


def test_it_finds_the_nearest_prompts_by_cosine(prompts):
    query = prompts[42] + 0.01
    found = Prompt.objects.nearest_train_ids(query, 5)
    assert Prompt.objects.get(pk=found[0][0]).external_id == "42"
    assert [sim for _, sim in found] == sorted((sim for _, sim in found), reverse=True)


def test_it_answers_nearest_queries_from_the_hnsw_index(prompts):
    assert "prompt_embedding_hnsw" in vector_search.explain(prompts[0], 10)


def test_a_search_within_datasets_finds_the_exact_nearest(prompts):
    """Postgres chooses between the HNSW index and an exact scan of the scope by its statistics
    (tests/registry/test_scoped_search.py forces each path); either way the answer is the scope's
    true nearest prompts."""
    scope = (Dataset.objects.get(name="vectors").id,)
    found = Prompt.objects.nearest_train_ids(prompts[7], 5, dataset_ids=scope)
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    exact = np.argsort(-(prompts @ prompts[7]))[:5]
    names = dict(Prompt.objects.filter(pk__in=[pid for pid, _ in found]).values_list("pk", "external_id"))
    assert [names[pid] for pid, _ in found] == [str(i) for i in exact]


def test_test_prompts_never_crowd_train_prompts_out_of_the_k_nearest(prompts):
    """Test prompts are not in the index, so k train prompts come back however many test prompts sit closer."""
    dataset = Dataset.objects.get(name="vectors")
    query = prompts[0]
    close = query + np.random.default_rng(1).normal(scale=0.01, size=(200, 384)).astype(np.float32)
    Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=f"t{i}", text="t", embedding=v, split="test")
                                for i, v in enumerate(close)])
    found = Prompt.objects.nearest_train_ids(query, 50)
    assert len(found) == 50
    assert set(Prompt.objects.filter(pk__in=[pid for pid, _ in found]).values_list("split", flat=True)) == {"train"}


def test_a_search_scoped_to_a_small_dataset_still_returns_k(prompts):
    """The other dataset's prompts fill the HNSW beam; the scan goes on rather than come back short."""
    small = Dataset.objects.create(name="small", source_format="bundle", content_hash="y")
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(80, 384)).astype(np.float32)
    Prompt.objects.bulk_create([Prompt(dataset=small, external_id=str(i), text="s", embedding=v / np.linalg.norm(v))
                                for i, v in enumerate(vectors)])
    found = Prompt.objects.nearest_train_ids(prompts[0], 50, dataset_ids=(small.id,))
    assert len(found) == 50
    assert set(Prompt.objects.filter(pk__in=[pid for pid, _ in found]).values_list("dataset", flat=True)) == {small.id}


SCAN_SETTINGS = "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the scan's own transaction must end
def test_a_scoped_search_is_an_iterative_scan_with_a_wider_beam_than_an_unscoped_one(prompts, monkeypatch):
    """A scope filter drops other datasets' prompts from the scan: scoped searches go on until
    they have k, from a wider first beam; the unscoped one of every request keeps the connection's
    (an iterative scan too, see test_rows_deleted_from_the_index_never_leave_a_search_short)."""
    scans = []
    opened = vector_search.cursor
    searches = {vector_search.NEAREST_TRAIN_SQL, vector_search.NEAREST_TRAIN_IN_DATASETS_SQL}

    class Recording:
        """The search's cursor, noting the scan settings in force when a search statement runs."""

        def __init__(self, cursor):
            self.cursor = cursor

        def __enter__(self):
            self.cursor.__enter__()
            return self

        def __exit__(self, *exc):
            return self.cursor.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.cursor, name)

        def execute(self, sql, params=None, **options):
            if sql in searches:
                with opened() as show:
                    scans.append(show.execute(SCAN_SETTINGS).fetchone())
            self.cursor.execute(sql, params, **options)
            return self

    monkeypatch.setattr(vector_search, "cursor", lambda: Recording(opened()))
    Prompt.objects.nearest_train_ids(prompts[3], 50)
    Prompt.objects.nearest_train_ids(prompts[3], 50, dataset_ids=(Dataset.objects.get(name="vectors").id,))
    assert scans == [("64", "relaxed_order"), (str(vector_search.SCOPED_EF_SEARCH), "relaxed_order")]
    assert vector_search.SCOPED_EF_SEARCH > 64
    # The settings are the search's own: the connection's are back to the configured ones.
    with vector_search.cursor() as show:
        assert show.execute(SCAN_SETTINGS).fetchone() == ("64", "relaxed_order")


def test_rows_deleted_from_the_index_never_leave_a_search_short(prompts):
    """A re-import deletes a dataset's prompts; until vacuum their entries stay in the HNSW graph,
    where they would fill the beam: the iterative scan goes on until k live rows are found."""
    dataset = Dataset.objects.get(name="vectors")
    query = prompts[0]
    close = query + np.random.default_rng(2).normal(scale=0.01, size=(300, 384)).astype(np.float32)
    Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=f"gone{i}", text="t", embedding=v)
                                for i, v in enumerate(close)])
    Prompt.objects.filter(external_id__startswith="gone").delete()
    found = Prompt.objects.nearest_train_ids(query, 50)
    assert len(found) == 50
    assert [sim for _, sim in found] == sorted((sim for _, sim in found), reverse=True)


def test_the_search_reaches_live_prompts_past_dead_index_entries(caplog):
    """Rows deleted or rolled back stay in the HNSW index until a vacuum; a scan that meets more of
    them than hnsw.max_scan_tuples stops short (in a full test run: with nothing, for prompts just
    imported). An exact scan completes it, and the log says why."""
    rng = np.random.default_rng(3)
    dataset = Dataset.objects.create(name="dead-and-live", source_format="bundle", content_hash="d")
    query = rng.normal(size=384).astype(np.float32)
    near = query + rng.normal(scale=0.05, size=(600, 384)).astype(np.float32)
    with pytest.raises(RuntimeError), transaction.atomic():
        Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=f"dead{i}", text="d", embedding=v)
                                    for i, v in enumerate(near)])
        raise RuntimeError("rolled back")
    live = Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=f"live{i}", text="l", embedding=v)
                                       for i, v in enumerate(rng.normal(size=(3, 384)).astype(np.float32))])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.max_scan_tuples = 200")  # 20,000 by default: 600 dead entries then suffice
    found = Prompt.objects.nearest_train_ids(query, 50)
    assert {pid for pid, _ in found} == {prompt.pk for prompt in live}
    assert "VACUUM" in caplog.text
    assert "prompt_embedding_hnsw" not in vector_search.explain(query, 50, exact=True)
    assert "prompt_embedding_hnsw" not in vector_search.explain(query, 50, (dataset.pk,), exact=True)
