"""`sync --json`: one document with every run's counts in words and in numbers."""

import json


def test_sync_json_document(deployment, run_cli):
    result = run_cli("sync", "items", "--json")
    data = json.loads(result.stdout)
    assert data["version"] == 1 and data["kind"] == "sync"
    runs = {(r["connection"], r["flow"]) for r in data["runs"]}
    assert runs == {(c.name, "items") for c in deployment.config.connections}
    for run in data["runs"]:
        assert isinstance(run["counts"], dict) and run["summary"]
        assert all(isinstance(n, int) for n in run["counts"].values())
    assert "SKUs matched to ERP items" in " ".join(r["summary"] for r in data["runs"])
