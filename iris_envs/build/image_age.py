"""Warn when a community base image is close to its license expiry (about 13 months after build).

The Community Edition license is built into the image and lasts about 13 months from the image's
build; after that IRIS refuses to start ("Invalid Community Edition license, may have exceeded
core limit") and so does every snapshot of that image, cached or not (iris-facts.md,
"Readiness"). The clock starts at InterSystems' build of the kit, which the image states in its
``com.intersystems.product-timestamp.iso8601`` label (ADOCK, "Discovering Defaults in
InterSystems Images"); an ``intersystemsdc/*`` rebuild has a later ``Created``, so that is only
the fallback for an image without the label.
"""

from __future__ import annotations

import datetime as dt
import re

PRODUCT_TIMESTAMP_LABEL = "com.intersystems.product-timestamp.iso8601"
LICENSE_MONTHS = 13
WARN_AFTER_DAYS = 365  # a month before the usual expiry
_DAYS_PER_MONTH = 30.44


def image_age_days(created: str, now: dt.datetime | None = None) -> float | None:
    """Days since the engine's ``Created`` timestamp (RFC 3339, nanoseconds allowed), or None."""
    if not created:
        return None
    # The engine gives nanoseconds; fromisoformat takes at most microseconds (before 3.11).
    text = re.sub(r"(\.\d{1,6})\d*", r"\1", created.strip().replace("Z", "+00:00"))
    try:
        built = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if built.tzinfo is None:
        built = built.replace(tzinfo=dt.timezone.utc)
    moment = now or dt.datetime.now(dt.timezone.utc)
    return (moment - built).total_seconds() / 86400


def kit_build_time(labels: dict[str, str], created: str) -> str:
    """When the IRIS in the image was built: its product timestamp label, else ``Created``."""
    return labels.get(PRODUCT_TIMESTAMP_LABEL, "").strip() or created


def community_license_warning(image: str, created: str, now: dt.datetime | None = None) -> str:
    """A warning for a community image built WARN_AFTER_DAYS or more ago, else ''."""
    age = image_age_days(created, now)
    if age is None or age < WARN_AFTER_DAYS:
        return ""
    months = age / _DAYS_PER_MONTH
    state = "has probably expired" if months >= LICENSE_MONTHS else "expires soon"
    return (
        f"the community image {image} was built {months:.0f} months ago: its license lasts about "
        f"{LICENSE_MONTHS} months from the build and {state}, and every snapshot of it stops "
        "working then too. Pull a newer tag of the image (its snapshot is rebuilt automatically)"
    )
