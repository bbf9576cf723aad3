"""NovaGenIA: text-to-image diffusers pipelines served on Ray Serve."""

__version__ = "0.1.0"
