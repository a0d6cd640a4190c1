import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own BATCHKIT_HOME and no provider or key from the developer's environment."""
    monkeypatch.setenv("BATCHKIT_HOME", str(tmp_path_factory.mktemp("home")))
    for var in ("BATCHKIT_PROVIDER", "BATCHKIT_BASE_URL", "KLUSTER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
