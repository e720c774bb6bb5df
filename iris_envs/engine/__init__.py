"""Engine: the Docker adapter, the only code that imports the docker SDK.

May import: the top-level errors module (the bottom layer).
"""
