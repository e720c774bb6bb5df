"""ObjectScript %UnitTest classes run through %UnitTest.Manager in an environment's container."""
