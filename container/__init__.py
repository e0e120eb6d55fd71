"""The program that runs inside the sandbox: probe and transcode one untrusted file.

It imports nothing from ``worker``: it is copied alone into the sandbox image.
"""

__version__ = "0.1.0"
