"""Writes a LoRA for the embedded trained model (tiny-shapes) that draws green where the
prompt says red, for the browser test that uploads one and generates with it.
Usage: make_tiny_lora.py OUT.safetensors (run with the repo's venv)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lora_files import write_colour_swap_lora  # noqa: E402

if __name__ == "__main__":
    write_colour_swap_lora(Path(sys.argv[1]), source="red", target="green")
