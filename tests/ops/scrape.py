"""Read a running server's /metrics with prometheus-client's own text parser (the tests' only one)."""

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from GET /metrics."""
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text[:300]
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value, 0 when the series does not exist yet."""
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def required(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; fails when the series is missing (where a default 0 would hide it)."""
    series = samples.get(name, {})
    key = tuple(sorted(labels.items()))
    assert key in series, f"{name}{labels} not in /metrics; its series: {sorted(series)}"
    return series[key]
