"""Tests of unrolled_lrp.data (a package, so test module names may repeat in other test folders)."""
