"""What the tests share: stacks and services to run, media and device files to feed them, fakes at our own
seams, and expectations. Tests import from here, never from conftest.py or from one another."""
