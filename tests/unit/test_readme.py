"""The README stays true to the code: every setting, reason code and command is documented."""
from pathlib import Path

from worker.errors import Reason
from worker.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table_with_its_flag():
    flags = {Settings.env_name(name): Settings.flag_name(name) for name, *_ in Settings.options()}
    secrets = {Settings.env_name(name) for name in Settings.secrets()}
    assert secrets and not secrets & set(flags), "a secret has no flag: argv is visible to every user"
    missing = [name for name, _, _ in Settings.reference()
               if f"| {'—' if name in secrets else f'`{flags[name]}`'} | `{name}` |" not in README]
    assert not missing, missing


def test_every_reason_code_is_documented():
    missing = [r.value for r in Reason if f"`{r.value}`" not in README]
    assert not missing, missing


def test_the_two_setup_commands_are_there():
    assert "bash scripts/demo.sh" in README and "bash scripts/test.sh" in README
