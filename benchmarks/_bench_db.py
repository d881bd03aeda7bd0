"""The private PostgreSQL database a benchmark runs in, one set-up for every bench.

A bench names its own database (each a different name, some overridable by an
environment variable; `BENCH_DB_SUFFIX=<word>` appends `_<word>` to every bench's, so two
people running the same bench on one server never drop each other's): it is made
afresh on the server of `BENCH_PG_URL` (the dev services' PostgreSQL by default), Django
is pointed at it with the product's embedded defaults for a bench (no Kafka, Celery
eager, DEBUG off, since DEBUG keeps a copy of every query) and set up, and at the end
Django's connections are closed and the database dropped unless the bench was asked to
keep it (`--keep-db`). Never the development database, never the tests' ones.

    from benchmarks._bench_db import bench_django_setup, bench_django_teardown

    BENCH_DB = bench_database_name("bench_credit")
    bench_django_setup(BENCH_DB)  # before any Django import that reads settings
    try:
        ...
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)
"""

import os
import re

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:15432/postgres")
# What a bench may name its database: the name goes into DDL, which takes no parameters.
NAME_PATTERN = re.compile(r"bench_[a-z0-9_]{1,50}")


def bench_database_name(name: str) -> str:
    """A bench's database name, with the suffix of BENCH_DB_SUFFIX if one is set."""
    suffix = os.environ.get("BENCH_DB_SUFFIX", "")
    return _checked(f"{name}_{suffix}" if suffix else name)


def _checked(name: str) -> str:
    assert NAME_PATTERN.fullmatch(name), f"a bench database is bench_<a-z0-9_>, not {name!r}"
    return name


def bench_database_url(name: str) -> str:
    """The URL of the bench database `name` on the server of PG_ADMIN_URL."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{_checked(name)}"


def bench_database_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_checked(name)} WITH (FORCE)")


def bench_database_recreate(name: str) -> None:
    """Drop `name` if a previous run left it, and create it empty."""
    import psycopg

    bench_database_drop(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {_checked(name)}")


def bench_django_setup(name: str) -> str:
    """Make `name` afresh, point Django at it and set Django up; returns its URL. The
    caller's DJANGO_SETTINGS_MODULE wins (config.settings.local by default)."""
    url = bench_database_url(name)
    bench_database_recreate(name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DEBUG"] = "false"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    import django

    django.setup()
    return url


def bench_django_teardown(name: str, *, keep: bool) -> None:
    """Close every connection of Django's (a DROP ... FORCE would cut them anyway, but an
    open one would then fail noisily at exit) and drop `name` unless `keep`."""
    from django.db import connections

    connections.close_all()
    if not keep:
        bench_database_drop(name)
