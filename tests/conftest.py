"""Nothing heavy here: ``pytest tests/unit`` runs without PyAV and moto. The functional and integration
tiers' own conftest.py bring in the moto stack and the media fixtures (tests/support/)."""
