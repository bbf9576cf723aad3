"""Writes a kohya-format LoRA that fits the embedded tiny model, for the browser test
that uploads one. Usage: make_tiny_lora.py OUT.safetensors (run with the repo's venv)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lora_files import KOHYA_METADATA, write_lora  # noqa: E402

if __name__ == "__main__":
    write_lora(Path(sys.argv[1]), seed=7, fmt="kohya", metadata=KOHYA_METADATA)
