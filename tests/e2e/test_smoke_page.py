"""The browser reaches the desk and the strict CSP raises no console error."""


def test_health_page_loads_in_chromium(page, server):
    response = page.goto("/api/health")
    assert response.status == 200
    assert '"status":"ok"' in page.content().replace(" ", "")
