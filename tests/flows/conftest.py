import pytest

from ml_connector.sandbox.deployment import SandboxDeployment


@pytest.fixture
def deployment(tmp_path):
    """The two demo sellers against the three sandboxes, in a private home."""
    with SandboxDeployment(home=tmp_path / "home") as running:
        yield running


@pytest.fixture
def store(deployment):
    opened = deployment.open_store()
    yield opened
    opened.close()
