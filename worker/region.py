"""The AWS region, found the ways the deployment docs give it, then handed to boto3 as ``AWS_DEFAULT_REGION``.

boto3 reads ``AWS_DEFAULT_REGION`` and the config file, but not ``AWS_REGION`` (the variable the systemd
env file, the CloudFormation user data and the ``docker run`` example set), and it never asks the EC2
instance metadata. :func:`ensure_region` looks in that order — boto3's own, ``AWS_REGION``, IMDSv2 — and
writes the answer to ``os.environ``, so every client of this process and of the pool children it spawns
later agrees on it.
"""

from __future__ import annotations

import logging
import os
import re

import botocore.session
from botocore.utils import InstanceMetadataRegionFetcher, resolve_imds_endpoint_mode

from worker.errors import RegionError

log = logging.getLogger(__name__)

# A plain region name ("eu-west-1", "us-gov-west-1", "ap-southeast-2"): anything else from IMDS is refused.
_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")

NO_REGION = (
    "no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION (or `region` in the AWS config "
    "file), or run on EC2, where the instance metadata (IMDSv2) gives it"
)


class _RegionFetcher(InstanceMetadataRegionFetcher):
    """botocore's IMDS region fetcher (token, retries, ``AWS_EC2_METADATA_*`` handling), asking
    ``placement/region``: botocore cuts the last letter off the availability zone, which is wrong for
    Local and Wavelength Zones (``us-west-2-lax-1a``)."""

    _URL_PATH = "latest/meta-data/placement/region"

    def _get_region(self) -> str:
        token = self._fetch_metadata_token()
        response = self._get_request(url_path=self._URL_PATH, retry_func=self._default_retry, token=token)
        return response.text.strip()


def instance_region(session: botocore.session.Session | None = None) -> str | None:
    """The EC2 instance's region from IMDSv2, or None (off EC2, ``AWS_EC2_METADATA_DISABLED=true``, no answer).

    The endpoint, its mode, timeout and attempts are botocore's settings (``AWS_EC2_METADATA_SERVICE_ENDPOINT``,
    ``AWS_METADATA_SERVICE_TIMEOUT``…), the same that its credential provider uses.
    """
    core = session or botocore.session.get_session()
    try:
        fetcher = _RegionFetcher(
            timeout=core.get_config_variable("metadata_service_timeout"),
            num_attempts=core.get_config_variable("metadata_service_num_attempts"),
            env=dict(os.environ),
            user_agent=core.user_agent(),
            config={
                "ec2_metadata_service_endpoint": core.get_config_variable("ec2_metadata_service_endpoint"),
                "ec2_metadata_service_endpoint_mode": resolve_imds_endpoint_mode(core),
                "ec2_metadata_v1_disabled": core.get_config_variable("ec2_metadata_v1_disabled"),
            },
        )
        region = fetcher.retrieve_region()
    except Exception as exc:  # noqa: BLE001 - a bad endpoint setting or IMDSv1 refusal means "no region", said why
        log.warning("instance metadata gave no region: %s", exc)
        return None
    if region and not _REGION_NAME.match(region):
        log.warning("instance metadata gave no valid region: %r", region[:80])
        return None
    return region or None


def ensure_region() -> str:
    """The region (boto3's own, else ``AWS_REGION``, else IMDSv2), also set as ``AWS_DEFAULT_REGION``.

    Reads and writes ``os.environ`` on purpose: boto3 and the spawned pool children read it there.
    Raises :class:`RegionError` (its text is :data:`NO_REGION`) when none of the three gives one.
    """
    # botocore's "region" is what boto3.Session().region_name reports: AWS_DEFAULT_REGION, else the config file.
    session = botocore.session.get_session()
    for source, find in (
        ("AWS_DEFAULT_REGION or the AWS config file", lambda: session.get_config_variable("region")),
        ("AWS_REGION", lambda: os.environ.get("AWS_REGION", "").strip()),
        ("the EC2 instance metadata", lambda: instance_region(session)),
    ):
        region = find()
        if region:
            log.info("AWS region %s (from %s)", region, source)
            os.environ["AWS_DEFAULT_REGION"] = region
            return region
    raise RegionError(NO_REGION)
