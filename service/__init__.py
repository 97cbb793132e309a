"""The Stridesync service: engine, live fan-out, storage, API, command line."""
