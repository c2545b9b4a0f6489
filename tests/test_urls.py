"""Storage URLs shown without their password, split as the URL parser splits them (issue 24)."""

from __future__ import annotations

import pytest

from sweepctl.urls import has_password, redact

SECRET = "S3cretPW"

CASES = [
    # (url, shown)
    (f"postgresql://:{SECRET}@host/x", "postgresql://:***@host/x"),
    (f"postgresql://user:p@ss{SECRET}@host/db", "postgresql://user:***@host/db"),
    (f"postgresql://user:{SECRET}@[::1]:5432/db", "postgresql://user:***@[::1]:5432/db"),
    (
        f"postgresql://u:{SECRET}@h/db?options=-csearch_path%3Dx&sslmode=require",
        "postgresql://u:***@h/db?options=-csearch_path%3Dx&sslmode=require",
    ),
    (
        f"postgresql://u@h/db?password={SECRET}&sslmode=require",
        "postgresql://u@h/db?password=***&sslmode=require",
    ),
    (f"postgresql://u:{SECRET}@h/db?password={SECRET}", "postgresql://u:***@h/db?password=***"),
    (f"postgresql://u:{SECRET}@[::1/db", "postgresql://***"),  # unparseable: all hidden
    (f"postgres://u:{SECRET}:more@h:5/db#frag", "postgres://u:***@h:5/db#frag"),
]
PLAIN = [
    "postgresql://host/db",
    "postgresql://user@host:5432/db?sslmode=disable",
    "postgresql://[::1]:5432/db",
    "sqlite:////tmp/a.db",
    "sqlite:///relative.db",
    "/plain/path.db",
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_a_password_is_hidden_wherever_the_parser_puts_it(url, shown):
    assert redact(url) == shown
    assert SECRET not in redact(url)
    assert has_password(url)


@pytest.mark.parametrize("url", PLAIN)
def test_a_url_without_a_password_is_shown_unchanged(url):
    assert redact(url) == url
    assert not has_password(url)


def test_the_server_limits_sweepctl_sets_are_options_a_url_may_carry():
    from sweepctl.store.locate import postgres_url

    url = postgres_url("postgresql://u@h/db?statement_timeout=2min&connect_timeout=3")
    assert "statement_timeout=2min" in url and "connect_timeout=3" in url
