"""What iris-envs reads from an InterSystems image's labels: its version and its kit's age."""

from __future__ import annotations


def test_license_age_counts_from_the_kit_build_not_an_image_rebuild() -> None:
    # An intersystemsdc/* rebuild is newer than the IRIS kit in it; the community license counts
    # from the kit's product timestamp (ADOCK labels).
    import datetime as dt

    from iris_envs.build.image_age import community_license_warning, kit_build_time

    labels = {"com.intersystems.product-timestamp.iso8601": "2024-01-10T05:37:59Z"}
    built = kit_build_time(labels, "2025-11-01T00:00:00Z")
    now = dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc)
    assert "has probably expired" in community_license_warning("img", built, now)
    assert community_license_warning("img", kit_build_time({}, "2025-11-01T00:00:00Z"), now) == ""


def test_the_image_version_label_loses_its_leading_colon() -> None:
    from iris_envs.pytest_plugin.environments import image_version

    assert (
        image_version({"com.intersystems.platform-version": ":2023.2.0.299.0"}) == "2023.2.0.299.0"
    )
    assert (
        image_version(
            {
                "com.intersystems.platform-version": ":2023.2.0.299.0",
                "org.opencontainers.image.version": "2023.2.0.299.0",
            }
        )
        == "2023.2.0.299.0"
    )
    assert image_version({}) == ""
