from hypothesis import settings

# Deterministic in CI: a CRC-16 lets one corrupted frame in 65,536 through by
# chance, so a randomised run could, very rarely, fail for that reason alone.
settings.register_profile("stridesync", derandomize=True, max_examples=150, deadline=None)
settings.load_profile("stridesync")
