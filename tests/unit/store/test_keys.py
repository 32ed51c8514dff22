"""The key schema: names that existing Redis data is stored under, and the script templates."""
from shared.store.keys import Keys

KEYS = Keys("movierec")


def test_key_names_stay_those_existing_data_is_stored_under():
    # spelled out on purpose: renaming any of these strands the data of a running deployment
    assert [KEYS.movies, KEYS.catalogue_revision, KEYS.meta, KEYS.users, KEYS.user(7),
            KEYS.user_live(7), KEYS.user_log(7), KEYS.user_counts, KEYS.deleted_users, KEYS.inbox,
            KEYS.inbox_draining, KEYS.user_revisions, KEYS.user_revision_sequence,
            KEYS.recommendations_cache(7), KEYS.applied_events, KEYS.movie_counts,
            KEYS.movie_sums, KEYS.popular, KEYS.active_version, KEYS.building_version,
            KEYS.versions, KEYS.version_states, KEYS.trainer_lock, KEYS.events_applied,
            KEYS.retrained_at_events, KEYS.retrain_slot("every:60:7")] == [
        "{movierec}:movies", "{movierec}:movies:rev", "{movierec}:meta", "{movierec}:users",
        "{movierec}:u:7", "{movierec}:u:7:live", "{movierec}:u:7:log", "{movierec}:nratings",
        "{movierec}:deleted", "{movierec}:inbox", "{movierec}:inbox:draining", "{movierec}:urev",
        "{movierec}:urev:seq", "{movierec}:rec:7", "{movierec}:applied", "{movierec}:stats:n",
        "{movierec}:stats:sum", "{movierec}:popular", "{movierec}:model:active",
        "{movierec}:model:building", "{movierec}:model:versions", "{movierec}:model:states",
        "{movierec}:trainer:lock", "{movierec}:stats:applied", "{movierec}:model:events",
        "{movierec}:schedule:every:60:7"]
    assert [KEYS.model_manifest("v1"), KEYS.version_params("v1"),
            KEYS.movie_priors("v1"), KEYS.assignments("v1"), KEYS.cluster_sizes("v1"),
            KEYS.cluster_favourites("v1", 3), KEYS.cluster_counts("v1", 3),
            KEYS.cluster_sums("v1", 3), KEYS.cluster_means("v1", 3),
            KEYS.version_pattern("v1"), KEYS.model_chunks("v1"), KEYS.model_chunk("v1", 2)] == [
        "{movierec}:model:v1:manifest", "{movierec}:v:v1:params",
        "{movierec}:v:v1:prior", "{movierec}:v:v1:assign", "{movierec}:v:v1:sizes",
        "{movierec}:v:v1:c:3:fav", "{movierec}:v:v1:c:3:n", "{movierec}:v:v1:c:3:sum",
        "{movierec}:v:v1:c:3:mean", "{movierec}:v:v1:*", "{movierec}:model:v1:chunks",
        "{movierec}:model:v1:npz:2"]


def test_each_template_filled_is_the_name_its_method_gives():
    ids = {1: ("1234",), 2: ("20240101T000000000Z", "17")}
    templates = Keys("t").script_templates()
    for name, template in templates.items():
        arity = template.count("%s")
        assert template.count("%") == arity, name
        assert template % ids[arity] == getattr(Keys("t"), name)(*ids[arity]), name
