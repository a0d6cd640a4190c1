import pytest
from hypothesis import settings

# No deadline for any example: on a shared two-core machine one slow example is load, not a failure (the
# default 200 ms deadline can fail a property test when the other worker is busy).
settings.register_profile("batchkit", deadline=None)
settings.load_profile("batchkit")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own BATCHKIT_HOME and no provider or key from the developer's environment."""
    monkeypatch.setenv("BATCHKIT_HOME", str(tmp_path_factory.mktemp("home")))
    for var in ("BATCHKIT_PROVIDER", "BATCHKIT_BASE_URL", "KLUSTER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def pytest_collection_modifyitems(items):
    """Files with slow tests first: two workers take whole files (`--dist loadfile`, kept in this order by
    `--no-loadscope-reorder` in the Makefile), so a long file started last would run alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: each file's order is kept
