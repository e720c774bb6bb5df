"""The stand-in IRIS image: its sources, builder and its own tests."""
