"""Everything that runs a diffusers pipeline: loading, samplers, generation, previews."""
