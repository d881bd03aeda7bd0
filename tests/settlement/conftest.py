from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)
