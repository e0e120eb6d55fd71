"""The README and docs/ stay true to the code: every setting, reason code and command is documented, the
README stays a five-minute read, and every link in it leads somewhere."""

import re
from pathlib import Path

from worker.errors import Reason
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "CONFIGURATION.md").read_text()
REASONS = (ROOT / "docs" / "REASONS.md").read_text()


def test_every_setting_is_in_the_configuration_table_with_its_flag():
    flags = {Settings.env_name(name): Settings.flag_name(name) for name, *_ in Settings.options()}
    secrets = {Settings.env_name(name) for name in Settings.secrets()}
    assert secrets and not secrets & set(flags), "a secret has no flag: argv is visible to every user"
    missing = [
        name
        for name, _, _ in Settings.reference()
        if f"| {'—' if name in secrets else f'`{flags[name]}`'} | `{name}` |" not in CONFIGURATION
    ]
    assert not missing, missing


def test_every_reason_code_is_documented():
    missing = [r.value for r in Reason if f"`{r.value}`" not in REASONS]
    assert not missing, missing


def test_the_two_setup_commands_are_there():
    assert "bash scripts/demo.sh" in README and "bash scripts/test.sh" in README


def test_the_readme_is_a_short_read_and_its_links_and_paths_exist():
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)", README)
    assert links and all((ROOT / link).exists() for link in links), [
        link for link in links if not (ROOT / link).exists()
    ]
    paths = re.findall(r"`((?:worker|container|tests|scripts|deploy)/[\w/.]+)`", README)
    assert paths and all((ROOT / p).exists() for p in paths), [p for p in paths if not (ROOT / p).exists()]
