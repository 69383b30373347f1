"""Tests of deploykit.serialization: estimator checks, formats, environments."""
