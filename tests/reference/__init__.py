"""Frozen references: the shank and force detectors of service/engine/ as they were
before they were vectorised (commit 62da437, 2026-12-02), state machines stepped
sample by sample. The product's detectors must give the same events to the bit
(tests/test_detectors_vectorised.py); the physics and the parameters are
documented in the product's modules. Not to be edited: they are the second
implementation the product is held to. One deliberate exception: the force
zero's follow by half-second tare windows (service/engine/force_zero.py,
2026-12-02) was written here first, per sample, and the product held to it.
"""
