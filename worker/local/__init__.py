"""Development tools, not used in production: ``stack`` (moto's server with a provisioned stack, the
embedded local AWS), ``samples`` (generated test media), ``demo`` (``python -m worker demo``)."""
