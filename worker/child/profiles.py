"""Output profiles ("the specified requirements") from a TOML file, validated at start-up, chosen per upload.

Selection, for each media kind: the ``[defaults]`` profile; else the longest ``[[rules]]`` prefix of the
key that names one; else the uploader's metadata field (``x-amz-meta-<metadata_field>``) when it names a
profile of that kind defined in the file. Unknown names in metadata are ignored (and logged), never
trusted.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Mapping

from worker.errors import SettingsError

log = logging.getLogger(__name__)
KINDS = ("video", "audio", "image")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# key → (type, low, high), (str or list, choices) or (bool,); a list of choices may be empty
SCHEMA: dict[str, dict[str, tuple]] = {
    "video": {
        "renditions": (list, 144, 4320),
        "maxrate_kbps": (list, 100, 100_000),
        "crf": (int, 0, 51),
        "preset": (str, PRESETS),
        "gop_seconds": (float, 0.25, 20.0),
        "audio_bitrate_kbps": (int, 32, 512),
        "poster_time": (float, 0.0, 86_400.0),
        "poster_quality": (int, 2, 31),
        "hls": (bool,),
        "hls_segment_seconds": (float, 1.0, 30.0),
        "storyboard": (bool,),
        "storyboard_interval": (float, 0.5, 600.0),
        "storyboard_tile_width": (int, 32, 640),
        "storyboard_columns": (int, 1, 50),
        "storyboard_max_tiles": (int, 1, 400),
        "stream_copy": (bool,),
    },
    "audio": {
        "bitrate_kbps": (int, 32, 512),
        "loudness_lufs": (float, -70.0, -5.0),
        "true_peak_db": (float, -9.0, 0.0),
        "extra_formats": (list, ("mp3", "opus")),
        "waveform": (bool,),
        "waveform_samples_per_pixel": (int, 32, 65_536),
    },
    "image": {
        "variants": (list, 16, 8192),
        "quality": (int, 0, 100),
        "animated": (str, ("first_frame", "reject")),
    },
}


@dataclass(frozen=True)
class ProfileBook:
    """Every profile of the file, the defaults, the prefix rules and the metadata field."""

    profiles: dict[str, tuple[str, dict[str, Any]]]
    defaults: dict[str, str]
    rules: tuple[tuple[str, dict[str, str]], ...]
    metadata_field: str

    def select(
        self, key: str, metadata: Mapping[str, str] | None = None
    ) -> tuple[dict[str, dict], dict[str, str]]:
        """(profile settings by kind, profile name by kind) for one upload."""
        names = dict(self.defaults)
        for prefix, chosen in sorted(self.rules, key=lambda rule: len(rule[0])):
            if key.startswith(prefix):
                names.update(chosen)  # longer prefixes come later and win
        wanted = (metadata or {}).get(self.metadata_field)
        if wanted:
            if wanted in self.profiles:
                names[self.profiles[wanted][0]] = wanted
            else:
                log.info("metadata names profile %r, which the profile file does not define: ignored", wanted)
        return {kind: dict(self.profiles[name][1]) for kind, name in names.items()}, names


def load_profiles(path: str = "") -> ProfileBook:
    """Read and validate a profile file (empty path: the shipped defaults); raise SettingsError naming every problem."""
    where = path or "the shipped profiles.toml"
    try:
        if path:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        else:
            doc = tomllib.loads(resources.files("worker.child").joinpath("profiles.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"profiles ({where}): {exc}") from None
    problems: list[str] = []
    profiles: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, body in (doc.get("profiles") or {}).items():
        body = dict(body)
        kind = body.pop("kind", None)
        if kind not in KINDS:
            problems.append(f"profile {name!r}: kind must be one of {', '.join(KINDS)}")
            continue
        problems.extend(f"profile {name!r}: {p}" for p in _check(kind, body))
        profiles[name] = (kind, body)
    defaults = dict(doc.get("defaults") or {})
    for kind in KINDS:
        if kind not in defaults:
            problems.append(f"[defaults] names no {kind} profile")
    rules = []
    for i, rule in enumerate(doc.get("rules") or []):
        rule = dict(rule)
        prefix = rule.pop("prefix", None)
        if not isinstance(prefix, str) or not prefix:
            problems.append(f"rules[{i}]: a non-empty prefix is required")
            continue
        rules.append((prefix, rule))
    for where_, mapping in [("[defaults]", defaults)] + [(f"rule {p!r}", r) for p, r in rules]:
        for kind, name in mapping.items():
            if kind not in KINDS:
                problems.append(f"{where_}: unknown kind {kind!r}")
            elif name not in profiles or profiles[name][0] != kind:
                problems.append(f"{where_}: {kind} = {name!r} is not a {kind} profile of the file")
    field = doc.get("metadata_field", "profile")
    if not isinstance(field, str) or not field.isidentifier():
        problems.append("metadata_field must be a simple name")
    unknown = set(doc) - {"profiles", "defaults", "rules", "metadata_field"}
    if unknown:
        problems.append(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    if problems:
        raise SettingsError(f"profiles ({where}) are invalid:\n  " + "\n  ".join(problems))
    return ProfileBook(profiles, defaults, tuple(rules), field)


def _check(kind: str, body: dict[str, Any]) -> list[str]:
    problems = []
    schema = SCHEMA[kind]
    for key, value in body.items():
        if key not in schema:
            problems.append(f"unknown setting {key!r} (known: {', '.join(schema)})")
            continue
        kind_, *rule = schema[key]
        values = value if kind_ is list else [value]
        if kind_ is bool:
            if not isinstance(value, bool):
                problems.append(f"{key} must be true or false")
            continue
        if kind_ is list and (not isinstance(value, list) or (not value and len(rule) == 2)):
            problems.append(f"{key} must be a {'' if len(rule) == 1 else 'non-empty '}list")
            continue
        for item in values:
            number = isinstance(item, (int, float)) and not isinstance(item, bool)
            if kind_ is str or len(rule) == 1:
                if item not in rule[0]:
                    problems.append(f"{key}: {item!r} must be one of {', '.join(rule[0])}")
            elif not number or (kind_ is int and not isinstance(item, int)) or not rule[0] <= item <= rule[1]:
                problems.append(f"{key} = {item!r} must be a number in [{rule[0]}, {rule[1]}]")
    if kind == "video":
        rungs, rates = body.get("renditions"), body.get("maxrate_kbps")
        if rungs is not None and (rates is None or len(rates) != len(rungs)):
            problems.append("maxrate_kbps needs one value per rendition")
        if rungs and rungs != sorted(rungs, reverse=True):
            problems.append("renditions must go from the largest to the smallest")
    if (
        kind == "image"
        and body.get("variants")
        and body["variants"] != sorted(body["variants"], reverse=True)
    ):
        problems.append("variants must go from the largest to the smallest")
    return problems
